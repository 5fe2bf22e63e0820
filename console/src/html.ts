/** HTML built from template literals: every interpolated value is escaped unless it is Html itself. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)

function piece(value: unknown): string {
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return value.map(piece).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? ''
  values.forEach((value, i) => {
    out += piece(value) + (strings[i + 1] ?? '')
  })
  return new Html(out)
}

/**
 * Puts `content` into `region` only when it differs from what is there: a refresh that finds nothing new
 * touches nothing (no flicker, focus and scroll kept), one that does swaps the region in one step.
 */
export function swap(region: HTMLElement, content: Html): void {
  if (region.dataset.rendered === content.value) return
  region.innerHTML = content.value
  region.dataset.rendered = content.value
}
