import { PassThrough, type Readable } from 'node:stream'

type BodyTimeoutReason = 'deadline' | 'idle'

interface BodyReadDeadlineOptions {
  /** The whole body must have arrived this long after the watch starts (its headers). */
  readTimeoutMs: number
  /** Longest pause before the first chunk or between two. */
  idleTimeoutMs: number
  /** Called once when either runs out, after the body stopped being forwarded. */
  onTimeout(reason: BodyTimeoutReason, receivedBytes: number): void
}

interface WatchedBody {
  /** The body as the parser reads it: the request's chunks, as long as they arrive in time. */
  stream: Readable
  /** Ends the watch (the answer is sent, or the client left): no timeout after this. */
  stop(): void
}

/**
 * Forwards a request body to the parser while two clocks run: the deadline for the whole body, and the
 * idle time since the last chunk (or since the headers, so a body that never starts is caught too). When
 * one runs out, the request stops being forwarded and `onTimeout` decides the rest (the caller destroys
 * `stream` with its error, which the parser hands to the error handler). The request stream itself is
 * never destroyed here: destroying an unfinished IncomingMessage destroys its socket, and the client
 * would get a reset instead of its 408.
 */
export function watchBodyRead(body: Readable, options: BodyReadDeadlineOptions): WatchedBody {
  const stream = new PassThrough()
  let receivedBytes = 0
  let done = false
  const forward = (chunk: Buffer) => {
    receivedBytes += chunk.length
    idle.refresh()
    if (!stream.write(chunk)) {
      body.pause()
      stream.once('drain', () => body.resume())
    }
  }
  const end = () => {
    stop()
    stream.end()
  }
  const fail = (error: Error) => {
    stop()
    stream.destroy(error)
  }
  const closed = () => fail(new Error('the client closed the connection before the body ended'))
  const timeout = (reason: BodyTimeoutReason) => () => {
    if (done) return
    stop()
    options.onTimeout(reason, receivedBytes)
  }
  const idle = setTimeout(timeout('idle'), options.idleTimeoutMs)
  const deadline = setTimeout(timeout('deadline'), options.readTimeoutMs)
  function stop() {
    if (done) return
    done = true
    clearTimeout(idle)
    clearTimeout(deadline)
    body.off('data', forward)
    body.off('end', end)
    body.off('error', fail)
    body.off('close', closed)
  }
  body.on('data', forward)
  body.once('end', end)
  body.once('error', fail)
  body.once('close', closed)
  // Fastify's parser checks the body's length against Content-Length; nothing is decoded on the way.
  Object.defineProperty(stream, 'receivedEncodedLength', { get: () => receivedBytes })
  return { stream, stop }
}
