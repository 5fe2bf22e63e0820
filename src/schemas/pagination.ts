import { z } from 'zod'
import { identifier, MAX_ID_LENGTH, storedText } from './common.ts'

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

/**
 * The longest cursor a list keyed by client ids can return: its key encoded as a JSON array (a
 * character may take 6 bytes escaped) in base64url. Lists keyed by generated values use the default.
 */
export const ID_CURSOR_MAX_LENGTH = 4 * Math.ceil((6 * MAX_ID_LENGTH + 16) / 3)

/** `limit` and `cursor`, the query parameters of every list (keyset pagination, see services/pagination.ts). */
/** The longest cursor of a list keyed by generated values (a timestamp and a UUID, or a version). */
export const DEFAULT_CURSOR_MAX_LENGTH = 200

export const pageQueryShape = (maxCursorLength = DEFAULT_CURSOR_MAX_LENGTH) => ({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: identifier().max(maxCursorLength).optional().describe('nextCursor from the previous page.'),
})

export interface PageQuery {
  limit: number
  cursor?: string | undefined
}

/** Bounded by the longest cursor any list accepts: every list answers cursors its query accepts. */
export const nextCursorSchema = storedText(Math.max(ID_CURSOR_MAX_LENGTH, DEFAULT_CURSOR_MAX_LENGTH))
  .nullable()
  .describe('Pass as `cursor` for the next page; null on the last page.')
