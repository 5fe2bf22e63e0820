import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { TooManyRequestsError } from '../errors/domain-errors.ts'
import { pickProblems } from './problem-schemas.ts'

interface RateLimitPluginOptions {
  /** Requests each credential may make per window. */
  max: number
  windowMs: number
}

/**
 * A fixed-window request budget per credential (a service key by name, a user by `sub`), registered in
 * the /v1 scope after authentication so the principal is known. Over budget: 429 problem+json with
 * Retry-After, plus the x-ratelimit-* headers on every answer. Counters live in this instance's memory:
 * N instances allow N times the budget (a shared store would make it global).
 */
export default fp<RateLimitPluginOptions>(
  async function rateLimitPlugin(app, { max, windowMs }) {
    app.addHook('onRoute', (route) => {
      route.schema = {
        ...route.schema,
        response: { ...(route.schema?.response as object), ...pickProblems(429) },
      }
    })
    await app.register(rateLimit, {
      global: true,
      max,
      timeWindow: windowMs,
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
  { name: 'rate-limit', dependencies: ['auth'] },
)
