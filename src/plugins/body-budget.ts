import fp from 'fastify-plugin'
import { ServiceUnavailableError } from '../errors/domain-errors.ts'

interface BodyBudgetOptions {
  /** BODY_BYTES_IN_FLIGHT: the request body bytes the process may parse and hold at once. */
  budgetBytes: number
  /** BODY_LIMIT_BYTES: what a body without Content-Length (chunked) is charged, since it may be that big. */
  bodyLimitBytes: number
}

/**
 * The memory budget of request bodies: a body is charged to the budget before a byte of it is read (by
 * its Content-Length; a chunked body by the body limit, the most it may turn out to be) and released when
 * its response has been sent or its connection closed, so the bytes being parsed, validated, sent to
 * PostgreSQL and answered stay within `budgetBytes` whatever the number of clients. A request that does
 * not fit while others are in flight is answered 503 with Retry-After, its body discarded unparsed; one alone always fits (the
 * budget is at least the body limit). Bodies over the limit are not charged: Fastify refuses them (413)
 * by their Content-Length, unread.
 */
export default fp<BodyBudgetOptions>(
  async function bodyBudgetPlugin(app, { budgetBytes, bodyLimitBytes }) {
    let inFlight = 0

    app.addHook('onRequest', async (request, reply) => {
      const charge = bodyCharge(request.headers, bodyLimitBytes)
      if (charge === 0) return
      if (inFlight > 0 && inFlight + charge > budgetBytes) {
        // Unparsed: Node.js discards the body as it arrives (chunk by chunk, nothing kept) and keeps the
        // connection, so the client reads this answer instead of a reset mid-upload.
        throw new ServiceUnavailableError(
          `request bodies in flight fill the memory budget (BODY_BYTES_IN_FLIGHT ${budgetBytes} bytes); retry shortly`,
        )
      }
      inFlight += charge
      // 'close' comes once, when the response is finished or the connection is gone.
      reply.raw.once('close', () => {
        inFlight -= charge
      })
    })

    app.decorate('bodyBytesInFlight', () => inFlight)
  },
  { name: 'body-budget', dependencies: ['problem-details'] },
)

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
