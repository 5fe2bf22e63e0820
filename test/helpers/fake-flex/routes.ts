import type { FlexEndpoint } from '../../../src/flex/flex-errors.ts'

export type Route =
  | { endpoint: 'list'; elementId: string; query: URLSearchParams }
  | { endpoint: 'add'; elementId: string; resourceId: string }
  | { endpoint: 'set-role'; elementId: string }
  | { endpoint: 'remove'; lineItemId: string }

const PATTERNS: { method: string; endpoint: FlexEndpoint; pattern: RegExp }[] = [
  { method: 'GET', endpoint: 'list', pattern: /^\/line-item\/([^/]+)\/row-data\/?$/ },
  { method: 'POST', endpoint: 'add', pattern: /^\/line-item\/([^/]+)\/add-resource\/([^/]+)$/ },
  { method: 'POST', endpoint: 'set-role', pattern: /^\/line-item\/([^/]+)\/row-data\/?$/ },
  { method: 'DELETE', endpoint: 'remove', pattern: /^\/line-item\/([^/]+)$/ },
]

/** The Flex call a request makes, from its method and its URL below the API root; undefined if none. */
export function matchRoute(method: string, url: URL, apiRoot: string): Route | undefined {
  if (!url.pathname.startsWith(`${apiRoot}/`)) return undefined
  const path = url.pathname.slice(apiRoot.length)
  for (const { method: expected, endpoint, pattern } of PATTERNS) {
    const match = method === expected ? pattern.exec(path) : null
    if (!match) continue
    const [first = '', second = ''] = match.slice(1).map(decodeSegment)
    switch (endpoint) {
      case 'list':
        return { endpoint, elementId: first, query: url.searchParams }
      case 'add':
        return { endpoint, elementId: first, resourceId: second }
      case 'set-role':
        return { endpoint, elementId: first }
      case 'remove':
        return { endpoint, lineItemId: first }
    }
  }
  return undefined
}

function decodeSegment(segment: string | undefined): string {
  try {
    return decodeURIComponent(segment ?? '')
  } catch {
    return segment ?? ''
  }
}
