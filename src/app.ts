import { join } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { bodyShareBytes, type Config, hasCredentials, requestTimeoutMs } from './config.ts'
import type { FlexPort } from './flex/flex-client.ts'
import { packageRoot } from './package-info.ts'
import authPlugin from './plugins/auth.ts'
import bodyBudgetPlugin from './plugins/body-budget.ts'
import consolePlugin from './plugins/console.ts'
import databasePlugin from './plugins/database.ts'
import departmentsPlugin from './plugins/departments.ts'
import drainPlugin from './plugins/drain.ts'
import idempotencyPlugin from './plugins/idempotency.ts'
import jsonBodyPlugin from './plugins/json-body.ts'
import { logOptions } from './plugins/log-options.ts'
import metricsPlugin from './plugins/metrics.ts'
import openapiPlugin from './plugins/openapi.ts'
import problemDetailsPlugin, {
  clientErrorHandler,
  notFoundHandler,
  sendFrameworkError,
} from './plugins/problem-details.ts'
import rateLimitPlugin from './plugins/rate-limit.ts'
import requestIdPlugin, { requestIdFrom } from './plugins/request-id.ts'
import { RequestLogController } from './plugins/request-log.ts'
import servicesPlugin, { type Services } from './plugins/services.ts'
import sharedProblemsPlugin from './plugins/shared-problems.ts'
import startLinePlugin from './plugins/start-line.ts'
import syncWorkerLifecycle from './plugins/sync-worker-lifecycle.ts'
import { fastAcceptValidatorCompiler } from './plugins/validator-compiler.ts'
import webhookWorkerPlugin from './plugins/webhook-worker.ts'
import adminRoutes from './routes/admin/admin.ts'
import calendarRoutes from './routes/calendars/calendars.ts'
import crewCallListRoutes from './routes/crew/crew-call-list.ts'
import crewCallRoutes from './routes/crew/crew-calls.ts'
import rosterHistoryRoutes from './routes/crew/roster-history.ts'
import technicianRoutes from './routes/crew/technicians.ts'
import healthRoutes from './routes/health/health.ts'
import syncRoutes from './routes/sync/sync.ts'
import syncStatusRoutes from './routes/sync/sync-status.ts'
import webhookEndpointRoutes from './routes/webhooks/webhook-endpoints.ts'
import type { ResolveHost } from './services/webhooks/ssrf-guard.ts'

export interface AppOverrides {
  /** Replaces individual services (fault injection in tests). */
  services?: Partial<Services>
  /** Replaces the Flex client. */
  flex?: FlexPort
  /** Resolves webhook hosts for the SSRF guard (a fake DNS in tests); node:dns otherwise. */
  resolveHost?: ResolveHost
  /** Pino options or false; tests pass { level: 'silent' } or a stream to read the log. */
  logger?: FastifyServerOptions['logger']
  /** The built operator console to serve at /console (default: dist/console in the project's root). */
  consoleDir?: string
}

/** How often Node checks every connection against headersTimeout and requestTimeout. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000

/**
 * Builds the whole application and never listens: src/server.ts listens, tests inject or listen on
 * port 0. Plugins are registered in dependency order: errors -> database -> openapi -> services ->
 * routes. The /v1 routes live in one scope whose auth plugin authenticates every request, including
 * those for unknown /v1 routes (401 without credentials, 404 with); health, /openapi.json and /docs
 * stay outside it, public. buildApp refuses to build without any credential configured.
 */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<FastifyInstance> {
  if (!hasCredentials(config))
    throw new Error(
      'no credentials configured: set AUTH_SERVICE_KEYS, AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY ' +
        '(src/server.ts generates a service key when none is set)',
    )
  const app = Fastify({
    // Credentials are never logged: the request log holds no headers, and this redaction (kept when
    // tests pass their own logger options) covers anything that would log the request's headers.
    logger: logOptions(config, overrides.logger),
    logController: new RequestLogController(),
    genReqId: requestIdFrom,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // Ids may be 1024 characters: longer ones reach validation (400) instead of the router (404).
    routerOptions: { maxParamLength: 4096 },
    return503OnClosing: true,
    // Deadlines for what clients send (docs/operations.md "Timeouts for what clients send"): headers within HEADERS_TIMEOUT_MS (Node's
    // default is 60 s), bodies by the body budget's own deadline (a 408 problem+json), and the whole
    // request by Node's requestTimeout as a backstop behind both (Fastify's default 0 turns it off).
    // Node checks these every connectionsCheckingInterval (default 30 s); every second keeps them close.
    requestTimeout: requestTimeoutMs(config),
    http: {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      requestTimeout: requestTimeoutMs(config),
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    },
    // URLs the router refuses (malformed percent-encoding, a segment over maxParamLength) go through
    // the one error handler too, so they are problem+json like every other error.
    frameworkErrors: (error, request, reply) => sendFrameworkError(error, request, reply as FastifyReply),
    // Requests Node's parser refuses before any route (a header section over maxHeaderSize, a malformed
    // request line) are problem+json too, when the socket can still take an answer.
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>()
  // The API speaks JSON only: a text/plain body is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain')
  app.setValidatorCompiler(fastAcceptValidatorCompiler)
  app.setSerializerCompiler(serializerCompiler)

  await app.register(drainPlugin)
  await app.register(requestIdPlugin)
  await app.register(problemDetailsPlugin, {
    retryAfterSeconds: config.RETRY_AFTER_SECONDS,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    drainBytes: config.BODY_DRAIN_BYTES,
    lingerMs: config.BODY_LINGER_MS,
  })
  await app.register(jsonBodyPlugin)
  await app.register(databasePlugin, { config })
  await app.register(metricsPlugin, { token: config.METRICS_TOKEN })
  await app.register(bodyBudgetPlugin, {
    budgetBytes: config.BODY_BYTES_IN_FLIGHT,
    shareBytes: bodyShareBytes(config),
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    readTimeoutMs: config.BODY_READ_TIMEOUT_MS,
    idleTimeoutMs: config.BODY_IDLE_TIMEOUT_MS,
  })
  await app.register(openapiPlugin, { environment: config.DEPLOYMENT_ENVIRONMENT })
  await app.register(servicesPlugin, {
    config,
    overrides: overrides.services,
    flex: overrides.flex,
    resolveHost: overrides.resolveHost,
  })
  await app.register(syncWorkerLifecycle, { config })
  await app.register(webhookWorkerPlugin, { config })
  await app.register(startLinePlugin, { config })
  await app.register(healthRoutes)
  await app.register(consolePlugin, { dir: overrides.consoleDir ?? join(packageRoot, 'dist', 'console') })
  await app.register(
    async function v1(api) {
      await api.register(authPlugin, { config })
      await api.register(rateLimitPlugin, {
        max: config.RATE_LIMIT_MAX,
        windowMs: config.RATE_LIMIT_WINDOW_MS,
        redisUrl: config.RATE_LIMIT_REDIS_URL,
        redisTimeoutMs: config.RATE_LIMIT_REDIS_TIMEOUT_MS,
        redisKeyPrefix: config.RATE_LIMIT_REDIS_PREFIX,
      })
      await api.register(idempotencyPlugin)
      await api.register(sharedProblemsPlugin)
      await api.register(departmentsPlugin, { departments: config.CREW_DEPARTMENTS })
      api.setNotFoundHandler(notFoundHandler)
      await api.register(calendarRoutes)
      await api.register(technicianRoutes)
      await api.register(crewCallRoutes)
      await api.register(crewCallListRoutes)
      await api.register(rosterHistoryRoutes)
      await api.register(syncRoutes)
      await api.register(syncStatusRoutes)
      await api.register(adminRoutes)
      await api.register(webhookEndpointRoutes)
    },
    { prefix: '/v1' },
  )
  return app
}
