import type { Html } from '../html.ts'

/** Where the console is: the hash's path segments and query (e.g. #/crew-calls?state=failed). */
export interface Place {
  path: string[]
  query: URLSearchParams
}

/** A screen: controls drawn once per visit, a body redrawn on every refresh, and its actions. */
export interface Page {
  title: string
  /** Drawn when the page is entered (forms keep what the user typed across refreshes). */
  controls?: Html
  /** The data, re-read every few seconds; only a changed result replaces what is on screen. */
  body(): Promise<Html>
  /** Button clicks (data-action) and form submissions (data-form) on this page. */
  actions?: Record<string, (target: HTMLElement) => Promise<void> | void>
}

export function placeHref(path: string[], query: Record<string, string | number | undefined> = {}): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value))
  const q = search.toString()
  return `#/${path.map(encodeURIComponent).join('/')}${q ? `?${q}` : ''}`
}
