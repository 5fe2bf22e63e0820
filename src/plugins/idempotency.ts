import { createHash, type Hash } from 'node:crypto'
import { pipeline, Transform } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import { ValidationError } from '../errors/domain-errors.ts'
import type { HeldKey } from '../services/idempotency/held-key.ts'
import {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  idempotencyKeySchema,
} from '../services/idempotency/idempotency-key-schema.ts'
import type { StoredResponse } from '../services/idempotency/key-store.ts'
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
  held?: HeldKey
  stopLease?: () => void
  answered: boolean
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
 * Idempotency keys on every POST, PUT and DELETE of the scope it is registered in (app.ts: /v1, after auth),
 * with the semantics of Stripe and of the IETF draft "The Idempotency-Key HTTP Header Field":
 *
 * - onRoute: documents (and validates) the optional `Idempotency-Key` header and the 409 and 422
 *   answers on every POST, PUT and DELETE.
 * - preParsing: the body's bytes are hashed as they are read (with the query string: the fingerprint).
 * - preHandler, after validation (a request that fails validation never started, keeps nothing and
 *   may be retried with the same key): take the key in the scope credential + method + path. A
 *   completed key is replayed here, status, kept headers and body bytes as first sent, plus
 *   `Idempotent-Replayed: true`, and the handler does not run. Another request under the key: 422;
 *   a running one: 409 with Retry-After. Otherwise the handler runs with the held key as the participant
 *   of its transaction (AsyncLocalStorage, see IdempotencyService), and the key's lease is renewed.
 * - onSend: the exact bytes about to be sent are kept. When the handler's write ran in a transaction,
 *   they are stored in that transaction, which commits only now: the write and its kept response
 *   commit together or not at all, and if the commit fails the client gets that failure, not the
 *   success. Otherwise (a sync, a 4xx thrown before any write) they are stored right after. Answers
 *   that are not kept (see isKeptStatus) roll the write back and release the key.
 * Expired keys are purged by IdempotencyService.startPurging (the take also takes over one it meets).
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

    app.addHook('preParsing', async (request, _reply, payload) => {
      const key = request.headers[IDEMPOTENCY_KEY_HEADER]
      if (!METHODS.has(request.method) || key === undefined || request.is404) return payload
      const hash = createHash('sha256').update(`${request.url.split('?')[1] ?? ''}\n`)
      keyedRequests.set(request, { key: String(key), hash, answered: false })
      const tap = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          callback(null, chunk)
        },
      })
      pipeline(payload, tap, () => {}) // an aborted body destroys the tap: the parser sees the error
      return tap
    })

    app.addHook('preHandler', (request, reply, done) => {
      const keyed = keyedRequests.get(request)
      if (!keyed || !request.principal) return done()
      takeKey(request, reply, keyed).then((held) => {
        if (held) service.runWith(held, () => done())
      }, done)
    })

    async function takeKey(
      request: FastifyRequest,
      reply: FastifyReply,
      keyed: KeyedRequest,
    ): Promise<HeldKey | undefined> {
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
      const result = await service.take({ scope, key: keyed.key, fingerprint: keyed.hash.digest('hex') })
      if ('replay' in result) {
        const { status, headers, body } = result.replay
        reply
          .code(status)
          .headers(headers)
          .header(IDEMPOTENT_REPLAYED_HEADER, 'true')
          .send(body === null ? undefined : Buffer.from(body))
        return undefined
      }
      keyed.held = result.held
      keyed.stopLease = service.keepAlive(result.held)
      reply.raw.once('close', keyed.stopLease)
      return result.held
    }

    app.addHook('onSend', async (request, reply, payload) => {
      const keyed = keyedRequests.get(request)
      const held = keyed?.held
      if (!keyed || !held || keyed.answered) return payload
      keyed.answered = true
      try {
        await keep(request, reply, held, capture(reply, payload))
      } finally {
        keyed.stopLease?.()
      }
      return payload
    })

    /** Stores the response (with the write, when one joined), or releases the key; see the plugin's doc. */
    async function keep(
      request: FastifyRequest,
      reply: FastifyReply,
      held: HeldKey,
      response: StoredResponse | undefined,
    ): Promise<void> {
      if (held.storedWithWrite) return // the write stored this very answer in its own statement
      const kept = response !== undefined && isKeptStatus(response.status) ? response : undefined
      const release = () =>
        service
          .release(held)
          .catch((error: unknown) => request.log.warn({ err: error }, 'could not release an idempotency key'))
      if (held.inTransaction) {
        try {
          await held.settle(kept)
          if (kept) return
        } catch (error) {
          if (kept) {
            // The write was rolled back after the handler answered: that answer must not reach the
            // client. The error handler answers instead (503, or 409 when the key was taken over).
            await release()
            reply.removeHeader('etag')
            reply.removeHeader('location')
            throw error
          }
        }
        await release()
        return
      }
      held.close()
      if (!kept) {
        await release()
        return
      }
      // No transaction joined (a sync, or a 4xx before any write): stored right after. Should this fail,
      // the key stays in progress until its lease lapses, and then a retry runs the request again.
      const ours = await service
        .complete(held, kept)
        .catch((error: unknown) => request.log.warn({ err: error }, 'could not store an idempotent response'))
      if (ours === false) request.log.warn('an idempotency key was taken over before its response was stored')
    }

    app.addHook('onResponse', async (request) => {
      const keyed = keyedRequests.get(request)
      if (!keyed?.held || keyed.answered) return
      // Answered without passing onSend (hijacked): nothing is known of the response, so free the key.
      keyed.answered = true
      keyed.stopLease?.()
      keyed.held.close()
      await service.release(keyed.held).catch(() => {})
    })
  },
  { name: 'idempotency', dependencies: ['auth', 'services'] },
)
