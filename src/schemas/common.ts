import { z } from 'zod'

/**
 * The bounds the server enforces, each declared in the OpenAPI document by the schema that enforces it
 * (maxLength, maxItems, minimum/maximum). Input schemas check them; the output schemas of the same
 * values use the same constants, so what the document says a field holds cannot drift from what the
 * server accepts. A request body is further bounded as a whole by BODY_LIMIT_BYTES: a field's bound
 * caps one value, BODY_LIMIT_BYTES the request (the largest set of calendars allowed by these bounds,
 * MAX_CALENDARS_PER_SET entries of 1024 + 1024 + 8192 characters, is far beyond the default 4 MiB body
 * limit, so in practice the body limit is met first for large sets, and a field's bound for one value).
 */
export const MAX_ID_LENGTH = 1024
/** ISO 8601 timestamps the server writes (`2026-12-01T10:00:00.000Z`, 24 characters; 27 with an extended year). */
const MAX_TIMESTAMP_LENGTH = 32
/** A UUID in its canonical text form. */
const UUID_LENGTH = 36
/** A message the server writes (a sync run's error or note, a problem's detail): cut to this length. */
export const MAX_MESSAGE_LENGTH = 2048
/** Every integer the API stores is a PostgreSQL `integer` (int4). */
export const MAX_INT32 = 2_147_483_647

/**
 * The building blocks of every string the API accepts (body fields, path and query parameters, headers):
 * start from one of these, never from a bare `z.string()`, so no field can forget the checks below.
 *
 * - wellFormedText: well-formed Unicode (`String.prototype.isWellFormed`): no lone UTF-16 surrogate
 *   such as the JSON escape `\ud800`. Such a string is not text: UTF-8 cannot encode it, PostgreSQL
 *   refuses it in jsonb and node-postgres would silently send U+FFFD in its place. Checked first; a
 *   string that fails it gets this one message and no other.
 * - freeText (names, summaries, descriptions, search terms): well-formed, and no control character
 *   (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) other than tab, line feed and carriage return.
 * - identifier (ids, keys, cursors, time zones, codes): well-formed, and no control character at all.
 *
 * Each returns a fresh `z.string()` with its checks, so bounds (`.min()`, `.max()`) and patterns chain on.
 */
const wellFormedText = () =>
  z.string().check(
    z.refine((value: string) => value.isWellFormed(), {
      message: 'must be well-formed Unicode text: it holds a lone UTF-16 surrogate (e.g. \\ud800)',
      abort: true,
    }),
  )

/** Cc minus tab, line feed and carriage return. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused.
const FREE_TEXT_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/
/** Every Cc character. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/

/** What freeText() accepts, as a plain predicate (for fast checks: src/schemas/fast-accept.ts). */
export const isFreeText = (value: string): boolean => value.isWellFormed() && !FREE_TEXT_CONTROLS.test(value)

/** What identifier() accepts, as a plain predicate (for fast checks: src/schemas/fast-accept.ts). */
export const isIdentifier = (value: string): boolean => value.isWellFormed() && !CONTROLS.test(value)

/** Free text: well-formed, no control characters but tab, line feed and carriage return. */
export const freeText = () =>
  wellFormedText().refine(
    (value) => !FREE_TEXT_CONTROLS.test(value),
    'must not contain control characters (U+0000-U+001F, U+007F-U+009F) other than tab, line feed and carriage return',
  )

/** An identifier, key or code: well-formed, no control characters at all (not even tab or newline). */
export const identifier = () =>
  wellFormedText().refine(
    (value) => !CONTROLS.test(value),
    'must not contain control characters (U+0000-U+001F, U+007F-U+009F)',
  )

/** An opaque identifier as the calendar provider or client gives it. */
export const idSchema = identifier()
  .min(1, 'must not be empty')
  .max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`)

/** A set's version, rising by exactly 1 each time the set changes; also its ETag (an int4 column). */
export const versionSchema = z.int().min(0).max(MAX_INT32)

/** A version number in a query string (`?version=`, `?since=`). */
export const versionQuerySchema = z.coerce.number().int().min(0).max(MAX_INT32)

// ---- Output shapes: what the server answers, bounded by what it accepts or writes ----------------------

/** An id the server accepted through idSchema (or a Flex id it stored under the same bound). */
export const storedId = () => z.string().max(MAX_ID_LENGTH)

/** Stored text whose input schema enforced `max` characters. */
export const storedText = (max: number) => z.string().max(max)

/** A timestamp the server writes (Date.toISOString). */
export const timestampSchema = () => z.iso.datetime().max(MAX_TIMESTAMP_LENGTH)

/** A UUID the server generated. */
export const uuidSchema = () => z.uuid().max(UUID_LENGTH)

/** A message the server wrote, cut by boundedMessage. */
export const messageSchema = () => z.string().max(MAX_MESSAGE_LENGTH)

/** A count or a number of milliseconds the server stored in an int4 column, or counted. */
export const countSchema = () => z.int().min(0).max(MAX_INT32)

/** A message cut to MAX_MESSAGE_LENGTH characters (never inside a UTF-16 surrogate pair), ending in `…` when cut. */
export function boundedMessage(text: string, max = MAX_MESSAGE_LENGTH): string {
  if (text.length <= max) return text
  let end = max - 1
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end -= 1
  return `${text.slice(0, end)}…`
}

/** The longest If-Match header accepted: room for about 90 entity tags. */
const MAX_IF_MATCH_LENGTH = 1024

/**
 * If-Match (RFC 9110 §13.1.1): `*`, or a list of strong entity tags like `"3", "4"`. Weak tags never
 * match for If-Match, so they are refused as malformed. Parsed to '*' or the list of versions.
 */
export const ifMatchSchema = identifier()
  .max(MAX_IF_MATCH_LENGTH, `must be at most ${MAX_IF_MATCH_LENGTH} characters`)
  .transform((value, ctx): '*' | number[] => {
    if (value.trim() === '*') return '*'
    const versions: number[] = []
    for (const part of value.split(',')) {
      const match = /^\s*"(\d{1,9})"\s*$/.exec(part)
      if (!match?.[1]) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be * or a list of entity tags like "3" (as sent in ETag)',
        })
        return z.NEVER
      }
      versions.push(Number(match[1]))
    }
    return versions
  })
  .optional()

export type IfMatch = z.output<typeof ifMatchSchema>

export const etag = (version: number) => `"${version}"`

/** An array item's fields for cross-item checks, which also run on items that failed validation. */
export const fieldsOf = (item: unknown): Record<string, unknown> =>
  typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : {}

/** The spellings a boolean query parameter accepts (zod's stringbool, compared case-insensitively). */
const TRUE_SPELLINGS = ['true', '1', 'yes', 'on', 'y', 'enabled'] as const
const FALSE_SPELLINGS = ['false', '0', 'no', 'off', 'n', 'disabled'] as const

/**
 * A boolean query parameter, false when absent. The document declares it `type: boolean`, so a
 * generated client passes `true` (sent as `?name=true`); the server also accepts the other spellings.
 */
export const queryBoolean = (description: string) =>
  z
    .stringbool({ truthy: [...TRUE_SPELLINGS], falsy: [...FALSE_SPELLINGS] })
    .meta({
      type: 'boolean',
      description: `${description} Also accepted: ${TRUE_SPELLINGS.slice(1).join(', ')} for true and ${FALSE_SPELLINGS.slice(1).join(', ')} for false, in any case.`,
    })
    .default(false)
