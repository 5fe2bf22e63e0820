import { z } from 'zod'

export const MAX_ID_LENGTH = 1024

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

/** A set's version, rising by exactly 1 each time the set changes; also its ETag. */
export const versionSchema = z.number().int().min(0)

/** A version number in a query string (`?version=`, `?since=`). */
export const versionQuerySchema = z.coerce.number().int().min(0).max(2_147_483_647)

/**
 * If-Match (RFC 9110 §13.1.1): `*`, or a list of strong entity tags like `"3", "4"`. Weak tags never
 * match for If-Match, so they are refused as malformed. Parsed to '*' or the list of versions.
 */
export const ifMatchSchema = identifier()
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
