import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { ForbiddenError, UnauthorizedError } from '../errors/domain-errors.ts'
import { createMetrics, type Metrics } from './metrics/sync-metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

interface MetricsPluginOptions {
  /** GET /metrics needs `Authorization: Bearer <token>`; unset, /metrics is refused to everyone. */
  token?: string
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Prometheus metrics at GET /metrics: every answered request by route template and status, plus what
 * services and the Flex client report through `app.metrics` (sync runs, Flex calls) and the database
 * pool's usage, read at scrape time. The counts (users, crew calls, failures) are not for anyone who
 * reaches the port: scraping needs METRICS_TOKEN, and without one configured /metrics is off (403
 * saying how to turn it on). A token rather than a loopback-only port: Prometheus scrapes from another
 * host or pod, which a loopback port cannot serve, and a bearer token is what its scrape config speaks.
 */
const metricsPlugin: FastifyPluginAsyncZod<MetricsPluginOptions> = async (app, { token }) => {
  const metrics = createMetrics(app.db.pool)
  app.decorate('metrics', metrics)

  app.addHook('onResponse', (request, reply, done) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    }
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
    done()
  })

  const expected = token === undefined ? undefined : digest(token)
  app.get('/metrics', {
    // An operator endpoint for Prometheus, not part of the API SDKs are generated from.
    schema: { hide: true },
    handler: async (request, reply) => {
      if (!expected)
        throw new ForbiddenError(
          'GET /metrics is off: set METRICS_TOKEN (16 characters or more) and scrape with ' +
            '`Authorization: Bearer <METRICS_TOKEN>`',
        )
      const presented = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        reply.header('www-authenticate', 'Bearer realm="rostersync-metrics"')
        throw new UnauthorizedError('GET /metrics needs the metrics token as a bearer token')
      }
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    },
  })
}

export default fp(metricsPlugin, { name: 'metrics', dependencies: ['database'] })
