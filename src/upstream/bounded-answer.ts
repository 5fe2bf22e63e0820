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
  const { text, complete } = await readUpTo(response, maxBytes)
  if (!complete) throw new AnswerTooLargeError(maxBytes)
  return text
}

/**
 * At most the first `maxBytes` of the body as text, and whether that was all of it; the rest is
 * discarded unread. For answers only glanced at (a webhook receiver's reply, for a log line).
 */
export async function readTextPrefix(
  response: Response,
  maxBytes: number,
): Promise<{ text: string; truncated: boolean }> {
  const { text, complete } = await readUpTo(response, maxBytes)
  // A cut may split a UTF-8 sequence: its replacement character goes with the cut.
  return { text: complete ? text : text.replace(/\uFFFD$/, ''), truncated: !complete }
}

/**
 * The body decoded as it arrives, up to `maxBytes` (the last chunk trimmed), and whether it ended
 * there. Each chunk is decoded at once and let go: the text lives on V8's heap, whose limits make it
 * collect in time, where chunks kept until the end would pile up as memory outside the heap, which
 * it collects only long after (measured: +47 MB of peak RSS for 20 reads of 4 MiB).
 */
async function readUpTo(response: Response, maxBytes: number): Promise<{ text: string; complete: boolean }> {
  if (!response.body) return { text: '', complete: true }
  // As Response.text() does: UTF-8, malformed sequences replaced (U+FFFD), a leading BOM dropped.
  const decoder = new TextDecoder('utf-8')
  const parts: string[] = []
  const reader = response.body.getReader()
  let bytes = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) {
        parts.push(decoder.decode())
        return { text: parts.join(''), complete: true }
      }
      if (bytes + value.byteLength > maxBytes) {
        parts.push(decoder.decode(value.subarray(0, maxBytes - bytes)))
        await reader.cancel().catch(() => {})
        return { text: parts.join(''), complete: false }
      }
      bytes += value.byteLength
      parts.push(decoder.decode(value, { stream: true }))
    }
  } finally {
    reader.releaseLock()
  }
}
