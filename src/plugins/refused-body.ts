import type { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'

export interface RefusedBodyBounds {
  /** BODY_DRAIN_BYTES: the most of a refused body read (and thrown away) after its answer. */
  drainBytes: number
  /** BODY_LINGER_MS: how long the connection is kept open after its answer while the body still arrives. */
  lingerMs: number
}

/**
 * Lets the client of a refused body (413, 415, 503) read its answer. Closing a connection while its
 * client is still sending makes the kernel reset it (RST), and a reset throws away whatever the client
 * has not read yet: the answer. So the answer goes out without `Connection: close`, and once it is
 * written the rest of the body is read and thrown away (nothing kept): a body that ends within
 * `drainBytes` and `lingerMs` leaves the connection reusable, like any other answer. A body that goes on
 * longer gets a lingering close: the server ends its side (FIN, so the client learns the connection is
 * over), goes on reading and discarding for another `lingerMs`, so the client has had its answer that
 * long before anything is reset, then closes.
 */
export function readRestOfRefusedBody(
  request: IncomingMessage,
  response: ServerResponse,
  bounds: RefusedBodyBounds,
): void {
  response.once('finish', () => {
    if (request.complete || request.destroyed) return
    const socket = request.socket
    // Only a connection can be reset: a request injected without one (app.inject's stand-in socket, which
    // has no end()) has nothing to drain or close.
    if (!(socket instanceof Socket)) return
    let discarded = 0
    let closing = false
    const cleanUp = () => {
      clearTimeout(lingering)
      // The body is all read: after our FIN nothing unread can make a reset any more.
      if (closing) socket.destroy()
      request.off('data', discard)
      request.off('end', cleanUp)
    }
    const close = () => {
      if (closing) return
      closing = true
      clearTimeout(lingering)
      // Our side ends now; reading goes on until the client closes its side or the linger is over.
      socket.end()
      lingering = setTimeout(() => socket.destroy(), bounds.lingerMs)
      lingering.unref()
    }
    const discard = (chunk: Buffer) => {
      discarded += chunk.length
      if (discarded > bounds.drainBytes) close()
    }
    let lingering = setTimeout(close, bounds.lingerMs)
    lingering.unref()
    // Whatever read the body before (the parser, the read deadline's watch) has stopped: the request may
    // be paused with a full buffer. From here on its bytes are counted and dropped.
    request.removeAllListeners('data')
    request.on('data', discard)
    request.once('end', cleanUp)
    socket.once('close', () => {
      closing = false
      cleanUp()
    })
    request.resume()
  })
}
