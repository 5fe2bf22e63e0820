import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { TooManyRequestsError } from '../errors/domain-errors.ts'
import { pickProblems } from '../schemas/problem.ts'
import {
  FallbackWindowCounter,
  MemoryWindowCounter,
  RedisWindowCounter,
  type WindowCounter,
} from './rate-limit-counters.ts'

export interface RateLimitPluginOptions {
  /** Requests each credential may make per window. */
  max: number
  windowMs: number
  /** Where the counters are shared by every instance; unset: in this instance's memory. */
  redisUrl?: string
  /** Upper bound on connecting to Redis and on one of its answers; then the request is counted here. */
  redisTimeoutMs: number
  /** Prefix of the counters' keys in Redis, so deployments sharing one Redis keep their budgets apart. */
  redisKeyPrefix: string
}

/** Adapts a WindowCounter to the store interface @fastify/rate-limit constructs (`store` option). */
function storeOf(counter: WindowCounter) {
  return class CounterStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ): void {
      counter.increment(key, timeWindow).then(
        (count) => callback(null, count),
        (error: Error) => callback(error),
      )
    }

    child(): FastifyRateLimitStore {
      return this
    }
  }
}

/** Where a Redis URL points, without its credentials, for the log. */
function redisAddress(url: string): string {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || '6379'}`
}

/**
 * A fixed-window request budget per credential (a service key by name, a user by `sub`), registered in
 * the /v1 scope after authentication so the principal is known. Over budget: 429 problem+json with
 * Retry-After, plus the x-ratelimit-* headers on every answer.
 *
 * With `redisUrl`, the counters live in Redis and every instance spends the same budget. When Redis
 * does not answer (down, unreachable, slower than `redisTimeoutMs`), each request is counted in this
 * instance's memory instead, so the service keeps answering with per-instance limits; that is logged
 * once when it starts and once when Redis answers again, and shown by `rostersync_rate_limit_shared`.
 * Without `redisUrl`, counters live in memory: N instances allow N times the budget.
 */
export default fp<RateLimitPluginOptions>(
  async function rateLimitPlugin(app, { max, windowMs, redisUrl, redisTimeoutMs, redisKeyPrefix }) {
    app.addHook('onRoute', (route) => {
      route.schema = {
        ...route.schema,
        response: { ...(route.schema?.response as object), ...pickProblems(429) },
      }
    })
    const local = new MemoryWindowCounter()
    let counter: WindowCounter = local
    app.metrics.rateLimitStore.set(0)
    if (redisUrl) {
      const redis = new Redis(redisUrl, {
        // A request never waits for Redis beyond the timeout: no queue while disconnected, no retry of
        // a command; ioredis keeps reconnecting in the background and counting moves back when it can.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: redisTimeoutMs,
        commandTimeout: redisTimeoutMs,
        lazyConnect: true,
      })
      // Failures reach the counter as rejected commands; without a listener ioredis would print each
      // reconnection error to stderr.
      redis.on('error', () => {})
      const address = redisAddress(redisUrl)
      const shared = new FallbackWindowCounter(new RedisWindowCounter(redis, redisKeyPrefix), local, {
        onFallback(error) {
          app.metrics.rateLimitStore.set(0)
          app.log.warn(
            { err: error, redis: address },
            'rate limit: Redis does not answer; each instance counts its own requests (N instances allow N times RATE_LIMIT_MAX) until it does',
          )
        },
        onRestored() {
          app.metrics.rateLimitStore.set(1)
          app.log.info({ redis: address }, 'rate limit: Redis answers again; the budget is shared')
        },
      })
      counter = {
        increment: async (key, ms) => {
          const count = await shared.increment(key, ms)
          if (!shared.isShared) app.metrics.rateLimitLocalCounts.inc()
          return count
        },
      }
      // Connecting at start makes the first requests count in Redis; a failure here is the same
      // fallback as later (logged once), and ioredis keeps trying.
      await redis.connect().then(
        () => app.metrics.rateLimitStore.set(1),
        (error: unknown) => shared.reportUnanswered(error),
      )
      app.addHook('onClose', async () => redis.disconnect())
    }
    await app.register(rateLimit, {
      global: true,
      max,
      timeWindow: windowMs,
      store: storeOf(counter),
      keyGenerator: (request) => {
        const principal = request.principal
        if (!principal) return `ip:${request.ip}`
        return principal.kind === 'service' ? `service:${principal.name}` : `user:${principal.sub}`
      },
      errorResponseBuilder: (_request, context) =>
        new TooManyRequestsError(
          `more than ${context.max} requests in ${Math.round(windowMs / 1000)} s for this credential; retry in ${context.after}`,
          { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
        ),
    })
  },
  { name: 'rate-limit', dependencies: ['auth', 'metrics'] },
)
