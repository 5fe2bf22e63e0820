import { createHash, type Hash } from 'node:crypto'
import { pipeline, Transform } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import { ValidationError } from '../errors/domain-errors.ts'
import {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  idempotencyKeySchema,
} from '../services/idempotency/idempotency-key-schema.ts'
import type { StoredResponse } from '../services/idempotency/key-store.ts'
import type { RequestKey } from '../services/idempotency/request-key.ts'
import { type Principal, principalName } from './auth/credentials.ts'
import { pickProblems } from './problem-schemas.ts'

/**
 * The methods that accept an Idempotency-Key (every write); on others the header is ignored. A DELETE
 * retried after its answer was lost replays its 204 rather than answering 404.
 */
const METHODS = new Set(['POST', 'PUT', 'DELETE'])

/** The response headers kept and replayed with the status and the body. */
const KEPT_HEADERS = ['content-type', 'etag', 'location'] as const

/** Scopes longer than this are stored as their sha256 (paths may hold ids of 1024 characters). */
const MAX_PLAIN_SCOPE = 512

/** A request that came with an Idempotency-Key, from its first byte to its answer. */
interface KeyedRequest {
  key: string
  /** The fingerprint being computed: the query string, then the body's bytes as they are read. */
  hash: Hash
  requestKey?: RequestKey
  stopLease?: () => void
  answered: boolean
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route's write has effects outside the database (a sync calls Flex), so no statement of it can
     * take the key: it is taken, with a lease, before the handler runs.
     */
    takesKeyBeforeRun?: boolean
  }
}

const keyedRequests = new WeakMap<FastifyRequest, KeyedRequest>()

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * Whether a response is the request's outcome, kept and replayed: success and 4xx answers are (Stripe's
 * rule), except the transient ones a retry may well change: 408, 409 (a conflict or a running sync),
 * 425, 429. 5xx answers are not kept either: the key is released and the client may retry with it.
 */
export function isKeptStatus(status: number): boolean {
  return status < 500 && status !== 408 && status !== 409 && status !== 425 && status !== 429
}

function capture(reply: FastifyReply, payload: unknown): StoredResponse | undefined {
  if (payload !== null && payload !== undefined && typeof payload !== 'string' && !Buffer.isBuffer(payload))
    return undefined // a stream: its bytes cannot be kept
  const headers: Record<string, string> = {}
  for (const name of KEPT_HEADERS) {
    const value = reply.getHeader(name)
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : String(value)
  }
  const body = payload === null || payload === undefined ? null : Buffer.from(payload)
  return { status: reply.statusCode, headers, body }
}

/**
 * Idempotency keys on every POST, PUT and DELETE of the scope it is registered in (app.ts: /v1, after
 * auth), with the semantics of Stripe and of the IETF draft; the protocol is in docs/api.md (Idempotency).
 * The hooks: onRoute documents the header and the 409 and 422 answers; preParsing fingerprints the query
 * and the body's bytes as they are read; preHandler (after validation: a request that fails it keeps
 * nothing) makes the request's RequestKey current for its handler, whose write takes it; onSend keeps the
 * exact bytes sent, or releases the key (RequestKey.finish); the error handler sends a replay.
 */
export default fp(
  async function idempotencyPlugin(app) {
    const service = app.services.idempotency
    const headerSchema = { [IDEMPOTENCY_KEY_HEADER]: idempotencyKeySchema.optional() }

    app.addHook('onRoute', (route) => {
      if (![route.method].flat().some((method) => METHODS.has(method))) return
      const headers = route.schema?.headers
      route.schema = {
        ...route.schema,
        headers:
          headers instanceof z.ZodObject
            ? headers.extend(headerSchema)
            : (headers ?? z.looseObject(headerSchema)),
        response: { ...(route.schema?.response as object), ...pickProblems(409, 422) },
      }
    })

    // Callback hooks: most requests carry no key, and an async hook would cost each of them a promise.
    app.addHook('preParsing', (request, _reply, payload, done) => {
      const key = request.headers[IDEMPOTENCY_KEY_HEADER]
      if (!METHODS.has(request.method) || key === undefined || request.is404) return done(null, payload)
      const hash = createHash('sha256').update(`${request.url.split('?')[1] ?? ''}\n`)
      keyedRequests.set(request, { key: String(key), hash, answered: false })
      const tap = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          callback(null, chunk)
        },
      })
      pipeline(payload, tap, () => {}) // an aborted body destroys the tap: the parser sees the error
      done(null, tap)
    })

    app.addHook('preHandler', (request, reply, done) => {
      const keyed = keyedRequests.get(request)
      if (!keyed || !request.principal) return done()
      const requestKey = keyOf(request, keyed)
      keyed.requestKey = requestKey
      if (!request.routeOptions.config.takesKeyBeforeRun) return service.runWith(requestKey, () => done())
      requestKey.takeBeforeRun().then(() => {
        keyed.stopLease = service.keepAlive(requestKey)
        reply.raw.once('close', keyed.stopLease)
        done()
      }, done)
    })

    function keyOf(request: FastifyRequest, keyed: KeyedRequest): RequestKey {
      const parsed = idempotencyKeySchema.safeParse(keyed.key)
      if (!parsed.success) {
        throw new ValidationError([
          {
            in: 'header',
            pointer: `/${IDEMPOTENCY_KEY_HEADER}`,
            detail: parsed.error.issues[0]?.message ?? 'invalid',
          },
        ])
      }
      const plainScope = `${principalName(request.principal as Principal)} ${request.method} ${request.url.split('?')[0]}`
      const scope = plainScope.length > MAX_PLAIN_SCOPE ? `sha256:${sha256(plainScope)}` : plainScope
      // If-Match changes what a write does: another one is another request (a 422, not the old answer).
      const ifMatch = request.raw.headers['if-match'] // as sent (the parsed header is a list of versions)
      const bodyHash = keyed.hash.digest('hex')
      const fingerprint = ifMatch === undefined ? bodyHash : sha256(`${bodyHash}\nif-match: ${ifMatch}`)
      return service.keyFor({ tenant: tenantOf(request), scope, key: keyed.key, fingerprint, ifMatch })
    }

    // A write found the key completed: its first answer is sent instead, byte for byte. Anything else goes
    // on to the problem details' handler.
    app.setErrorHandler((error, request, reply) => {
      const replay = keyedRequests.get(request)?.requestKey?.replay
      if (!replay) throw error
      const { status, headers, body } = replay
      return reply
        .code(status)
        .headers(headers)
        .header(IDEMPOTENT_REPLAYED_HEADER, 'true')
        .send(body === null ? undefined : Buffer.from(body))
    })

    app.addHook('onSend', (request, reply, payload, done) => {
      const keyed = keyedRequests.get(request)
      if (!keyed?.requestKey || keyed.answered) return done(null, payload)
      storeAnswer(request, reply, payload, keyed).then(
        () => done(null, payload),
        (error: Error) => done(error),
      )
    })

    async function storeAnswer(
      request: FastifyRequest,
      reply: FastifyReply,
      payload: unknown,
      keyed: KeyedRequest,
    ): Promise<void> {
      const requestKey = keyed.requestKey as RequestKey
      keyed.answered = true
      const response = capture(reply, payload)
      try {
        const stored = await requestKey.finish(
          response,
          response !== undefined && isKeptStatus(response.status),
        )
        if (!stored) request.log.warn('an idempotency key was taken over before its response was stored')
      } catch (error) {
        // The write was rolled back after the handler answered: that answer must not reach the client.
        // The error handler answers instead (503, or 409 when the key was taken over).
        reply.removeHeader('etag')
        reply.removeHeader('location')
        throw error
      } finally {
        keyed.stopLease?.()
      }
    }

    app.addHook('onResponse', (request, _reply, done) => {
      const keyed = keyedRequests.get(request)
      if (!keyed?.requestKey || keyed.answered) return done()
      // Answered without passing onSend (hijacked): nothing is known of the response, so free the key.
      keyed.answered = true
      keyed.stopLease?.()
      keyed.requestKey.finish(undefined, false).then(
        () => done(),
        () => done(),
      )
    })
  },
  { name: 'idempotency', dependencies: ['auth', 'services'] },
)

/**
 * The key's tenant: the route's first path parameter (`/users/:userId/…` the user, `/jobs/:jobId/…` the
 * job, `/technicians/:technicianId` the technician), the distribution value of the rows its write protects.
 */
function tenantOf(request: FastifyRequest): string {
  const name = /:(\w+)/.exec(request.routeOptions.url ?? '')?.[1]
  const params = request.params as Record<string, unknown> | undefined
  return name === undefined ? '' : String(params?.[name] ?? '')
}
