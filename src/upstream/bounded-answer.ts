/**
 * Reading an upstream HTTP answer (Flex, and webhook receivers once they exist) with a bound on its
 * size: an answer from outside can be anything (a misconfigured element of 200,000 rows, a proxy's
 * error page, an endpoint that streams without end), and one read whole could exhaust the heap and
 * end the process for every request in flight. The body is streamed and counted chunk by chunk; past
 * the bound the stream is cancelled (undici then closes the connection) and nothing more is read.
 * How long a read may take is the caller's fetch signal (a timeout aborts the body read too).
 */

/** An answer larger than the bound: the read was cancelled once it passed `limitBytes`. */
export class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError'

  constructor(readonly limitBytes: number) {
    super(`answer larger than ${limitBytes} bytes`)
  }
}

/**
 * The whole body as text, or AnswerTooLargeError as soon as it passes `maxBytes` (at once when its
 * Content-Length says so). Never holds more than `maxBytes` plus one chunk.
 */
export async function readBoundedText(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw new AnswerTooLargeError(maxBytes)
  }
  const { chunks, complete } = await readUpTo(response, maxBytes)
  if (!complete) throw new AnswerTooLargeError(maxBytes)
  return decode(chunks)
}

/**
 * At most the first `maxBytes` of the body as text, and whether that was all of it; the rest is
 * discarded unread. For answers only glanced at (a webhook receiver's reply, for a log line).
 */
export async function readTextPrefix(
  response: Response,
  maxBytes: number,
): Promise<{ text: string; truncated: boolean }> {
  const { chunks, complete } = await readUpTo(response, maxBytes)
  const text = decode(chunks)
  // A cut may split a UTF-8 sequence: its replacement character goes with the cut.
  return { text: complete ? text : text.replace(/\uFFFD$/, ''), truncated: !complete }
}

/** The body's chunks up to `maxBytes` in all (the last one trimmed), and whether the body ended there. */
async function readUpTo(
  response: Response,
  maxBytes: number,
): Promise<{ chunks: Uint8Array[]; complete: boolean }> {
  const chunks: Uint8Array[] = []
  if (!response.body) return { chunks, complete: true }
  const reader = response.body.getReader()
  let bytes = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { chunks, complete: true }
      if (bytes + value.byteLength > maxBytes) {
        chunks.push(value.subarray(0, maxBytes - bytes))
        await reader.cancel().catch(() => {})
        return { chunks, complete: false }
      }
      bytes += value.byteLength
      chunks.push(value)
    }
  } finally {
    reader.releaseLock()
  }
}

function decode(chunks: Uint8Array[]): string {
  // As Response.text() does: UTF-8, malformed sequences replaced (U+FFFD), a leading BOM dropped.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/^\uFEFF/, '')
}
