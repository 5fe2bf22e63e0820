import { z } from 'zod'

/** Flex sends ids as strings (UUIDs) or, on some tenants, integers; from here on they are strings. */
const flexId = z.union([z.string().min(1), z.number().int()]).transform(String)

/**
 * An add-resource answer. Real callers type it as `{ addedResourceLineIds, affectedRootLineIds,
 * addedNoteLineId, nonRootClonedLineIds }` (test/fixtures/flex/README.md); the older guesses (`id`,
 * `lineItemId`, `data.id`, `data.lineItemId`) are kept as fallbacks.
 */
const addResponse = z
  .object({
    addedResourceLineIds: z.array(flexId).nullish(),
    id: flexId.nullish(),
    lineItemId: flexId.nullish(),
    data: z.object({ id: flexId.nullish(), lineItemId: flexId.nullish() }).nullish(),
  })
  .transform(
    (body) =>
      body.addedResourceLineIds?.[0] ??
      body.id ??
      body.lineItemId ??
      body.data?.id ??
      body.data?.lineItemId ??
      null,
  )

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problem: string }

/** The new line's id from an add-resource answer: null when Flex named none (then list to find it). */
export function parseAddedLineId(body: unknown): ParseResult<string | null> {
  const result = addResponse.safeParse(body)
  if (result.success) return { ok: true, value: result.data }
  const problem = result.error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ')
  return { ok: false, problem }
}

/**
 * Flex's own refusal inside a 2xx answer, `{ "success": false, "message": ... }`, which callers of
 * real Flex guard against: the text it gives, or undefined when the answer is no refusal.
 */
export function refusalIn(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const { success } = body as { success?: unknown }
  if (success !== false) return undefined
  return flexMessage(body) ?? 'no message'
}

/** The message Flex put in an answer (`exceptionMessage`, or `message`), if any. */
export function flexMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const { exceptionMessage, message } = body as { exceptionMessage?: unknown; message?: unknown }
  const text = typeof exceptionMessage === 'string' ? exceptionMessage : message
  return typeof text === 'string' && text.trim() !== '' ? text.trim() : undefined
}

/** An HTML page (a login page, a proxy's error page): by its content type, or by its first character. */
export function looksLikeHtml(contentType: string, body: string): boolean {
  return /\btext\/html\b/i.test(contentType) || /^\s*</.test(body)
}

export function parseJsonOrUndefined(body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}
