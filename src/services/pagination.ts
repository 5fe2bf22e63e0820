import { ValidationError } from '../errors/domain-errors.ts'

/**
 * Keyset pagination, shared by every list: a page is read in the list's order from just after the
 * key of the previous page's last item, so an item inserted or deleted between pages never shifts
 * the others (each one still present is returned exactly once). The cursor is that key, a JSON array
 * of strings in base64url: opaque to clients, checked when it comes back.
 */
function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/**
 * The key in a cursor this API returned: `arity` strings PostgreSQL can store (no NUL), accepted by
 * `isValid` when given. Anything else is a 400 naming the query's `cursor`.
 */
export function decodeCursor(
  cursor: string,
  arity: number,
  isValid: (key: string[]) => boolean = () => true,
): string[] {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (
      Array.isArray(key) &&
      key.length === arity &&
      key.every((part) => typeof part === 'string' && !part.includes('\u0000')) &&
      isValid(key)
    ) {
      return key
    }
  } catch {}
  throw new ValidationError([{ in: 'query', pointer: '/cursor', detail: 'not a cursor this API returned' }])
}

/**
 * A page from `rows` read with `take: limit + 1`: the first `limit` rows, and the cursor after the
 * last of them when a further row showed there is more.
 */
export function toPage<T>(
  rows: T[],
  limit: number,
  keyOf: (row: T) => string[],
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null }
}
