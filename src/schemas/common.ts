import { z } from 'zod'

export const MAX_ID_LENGTH = 1024

/** Text PostgreSQL can store: any string without a NUL character (0x00 is refused in text columns). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly the character refused here.
export const storableText = () => z.string().regex(/^[^\u0000]*$/, 'must not contain NUL characters')

/** An opaque identifier as the calendar provider or client gives it. */
export const idSchema = storableText()
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
export const ifMatchSchema = z
  .string()
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
