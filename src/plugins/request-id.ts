import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

/** Uses the caller's x-request-id when it is a sane token, so one id follows a call across services. */
export function requestIdFrom(request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

/** Echoes the request id to the client as x-request-id. */
export default fp(
  async function requestIdPlugin(app) {
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('x-request-id', request.id)
      done()
    })
  },
  { name: 'request-id' },
)
