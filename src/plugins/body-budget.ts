import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { RequestTimeoutError, ServiceUnavailableError } from '../errors/domain-errors.ts'
import { principalName } from './auth/credentials.ts'
import { BodyCharges } from './body-charges.ts'
import { watchBodyRead } from './body-read-deadline.ts'

interface BodyBudgetOptions {
  /** BODY_BYTES_IN_FLIGHT: the request body bytes the process may parse and hold at once. */
  budgetBytes: number
  /** BODY_BYTES_PER_CREDENTIAL: the part of the budget one credential may hold at once. */
  shareBytes: number
  /** BODY_LIMIT_BYTES: what a body without Content-Length (chunked) is charged, since it may be that big. */
  bodyLimitBytes: number
  /** BODY_READ_TIMEOUT_MS: how long the whole body may take to arrive. */
  readTimeoutMs: number
  /** BODY_IDLE_TIMEOUT_MS: how long the body may pause, before its first chunk or between two. */
  idleTimeoutMs: number
}

/**
 * The memory budget of request bodies, with a read deadline and a fair share per credential.
 *
 * A body is charged before a byte of it is read (by its Content-Length; a chunked body by the body limit,
 * the most it may turn out to be) and released when its answer has been sent or its connection closed, so
 * the bytes being parsed, validated, sent to PostgreSQL and answered stay within `budgetBytes` whatever
 * the number of clients. The charge is decided in preParsing, after every onRequest hook: authentication
 * (/v1's onRequest) has named the credential by then, and a request answered 401 or 429 is never charged.
 * One credential holds at most `shareBytes` (less than the budget), so its bodies, however slow, leave
 * room for another credential's; bodies outside /v1 (no credential) share one holder per client address.
 * A body over the share or the budget is answered 503 with Retry-After, discarded unparsed; one alone
 * always fits. Bodies over the limit are not charged: Fastify refuses them (413) by Content-Length, unread.
 *
 * A charged body must arrive within `readTimeoutMs` of its headers and never pause longer than
 * `idleTimeoutMs`; otherwise it is answered 408 problem+json with `Connection: close` (Node closes the
 * connection once the answer is written) and its charge is given back at that moment, not when the
 * client finally leaves. A body that came whole with its headers has nothing left to wait for: it is
 * not watched (no stream in between, no timers: docs/performance.md, what holds the calendar PUT ratio).
 */
export default fp<BodyBudgetOptions>(
  async function bodyBudgetPlugin(app, options) {
    const { budgetBytes, shareBytes, bodyLimitBytes } = options
    const charges = new BodyCharges(budgetBytes, shareBytes)
    const { bodyBytes, bodiesTimedOut } = app.metrics

    app.addHook('preParsing', async (request, reply, payload) => {
      const bytes = bodyCharge(request.headers, bodyLimitBytes)
      if (bytes === 0) return payload
      const holder = holderOf(request)
      const charge = charges.take(holder, bytes)
      if (charge.refused) {
        bodyBytes.inc({ outcome: `refused_${charge.refused}` }, bytes)
        // Unparsed: Node.js discards the body as it arrives (chunk by chunk, nothing kept) and keeps the
        // connection, so the client reads this answer instead of a reset mid-upload.
        throw new ServiceUnavailableError(
          charge.refused === 'share'
            ? `this credential's request bodies in flight fill its share of the memory budget ` +
                `(BODY_BYTES_PER_CREDENTIAL ${shareBytes} bytes); retry when one of them is answered`
            : `request bodies in flight fill the memory budget (BODY_BYTES_IN_FLIGHT ${budgetBytes} bytes); retry shortly`,
        )
      }
      let outcome: 'answered' | 'timed_out' | 'abandoned' | undefined
      const release = (how: NonNullable<typeof outcome>) => {
        if (outcome) return
        outcome = how
        charge.release()
        bodyBytes.inc({ outcome: how }, bytes)
      }
      // 'close' comes once, when the response is finished or the connection is gone.
      const closed = () => release(reply.raw.writableFinished ? 'answered' : 'abandoned')
      // A body whose bytes have all arrived (in the packets that carried its headers: the common case of
      // a small body) has nothing left to time: it is parsed from what Node.js buffered, without the
      // watch's stream and timers. Node's parser buffers no more than Content-Length says.
      if (request.raw.complete || request.raw.readableLength >= bytes) {
        reply.raw.once('close', closed)
        return payload
      }
      const watched = watchBodyRead(payload, {
        readTimeoutMs: options.readTimeoutMs,
        idleTimeoutMs: options.idleTimeoutMs,
        onTimeout(reason, receivedBytes) {
          release('timed_out')
          bodiesTimedOut.inc({ reason })
          request.log.warn(
            { credential: holder, reason, receivedBytes, declaredBytes: bytes },
            'request body did not arrive in time: 408, connection closed',
          )
          const limit =
            reason === 'idle'
              ? `paused longer than BODY_IDLE_TIMEOUT_MS (${options.idleTimeoutMs} ms)`
              : `did not arrive within BODY_READ_TIMEOUT_MS (${options.readTimeoutMs} ms)`
          watched.stream.destroy(
            new RequestTimeoutError(
              `the request body ${limit} after ${receivedBytes} bytes; send the request again, whole`,
            ),
          )
        },
      })
      // The parser listens for errors once it reads; a timeout before that must not be an uncaught error.
      watched.stream.on('error', () => {})
      reply.raw.once('close', () => {
        watched.stop()
        closed()
      })
      return watched.stream
    })

    app.decorate('bodyBytesInFlight', () => charges.inFlight)
    app.metrics.observeBodyBudget(() => charges.inFlight)
  },
  { name: 'body-budget', dependencies: ['problem-details', 'metrics'] },
)

/** Who a body is charged to: the credential /v1's authentication named, else the client's address. */
function holderOf(request: FastifyRequest): string {
  return request.principal ? principalName(request.principal) : `ip:${request.ip}`
}

/** What a request's body is charged before it is read: 0 for none, and for one Fastify refuses unread. */
function bodyCharge(headers: Record<string, string | string[] | undefined>, bodyLimitBytes: number): number {
  const declared = headers['content-length']
  if (typeof declared === 'string') {
    const length = Number(declared)
    return Number.isSafeInteger(length) && length > 0 && length <= bodyLimitBytes ? length : 0
  }
  return headers['transfer-encoding'] === undefined ? 0 : bodyLimitBytes
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Bytes of request bodies currently charged to the budget (for metrics and tests). */
    bodyBytesInFlight(): number
  }
}
