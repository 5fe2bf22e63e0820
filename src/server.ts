import { constants } from 'node:os'
import { buildApp } from './app.ts'
import { readOrCreateServiceKey } from './auth/service-key-file.ts'
import {
  type Config,
  ConfigError,
  flexSettings,
  hasCredentials,
  loadConfig,
  tracingSettings,
  usesDevelopmentJwtSecret,
} from './config.ts'
import { startEmbeddedPostgres } from './db/embedded-postgres.ts'
import { migrate } from './db/migrate.ts'

/**
 * The process entry: reads the environment once, provides a database (DATABASE_URL, or an embedded
 * PostgreSQL under EMBEDDED_PG_DATA_DIR), applies migrations, listens, and on SIGINT/SIGTERM drains
 * (readiness off, `Connection: close`, for SHUTDOWN_DRAIN_MS), then stops accepting connections,
 * finishes in-flight requests and reconciles, closes the pool, then the embedded database. The server never runs open: without any credential configured it uses a service
 * key generated once and kept in AUTH_SERVICE_KEY_FILE (mode 0600), and logs where it is (never the
 * key itself).
 *
 * `--worker` (npm run worker) runs the reconcile workers without the HTTP server, for operators who
 * separate the two: the same app and shutdown, nothing listening.
 */
async function main(): Promise<void> {
  const workerOnly = process.argv.includes('--worker')
  const config = loadConfig(process.env)
  if (workerOnly && !flexSettings(config))
    throw new ConfigError('npm run worker needs Flex: set FLEX_BASE_URL and FLEX_AUTH_TOKEN')
  // OpenTelemetry is imported only when an OTLP endpoint is set, and before the app is built (its
  // Fastify instrumentation hooks the app's creation): with tracing off none of it is loaded.
  const tracingConfig = tracingSettings(config)
  const tracing = tracingConfig
    ? await import('./telemetry/start-tracing.ts').then(({ startTracing }) => startTracing(tracingConfig))
    : undefined
  const generatedKey = hasCredentials(config)
    ? undefined
    : await readOrCreateServiceKey(config.AUTH_SERVICE_KEY_FILE)
  // Development only: user tokens from `npm run token`, signed with a secret kept beside the key.
  const developmentJwtSecret = usesDevelopmentJwtSecret(config)
    ? await readOrCreateServiceKey(config.AUTH_JWT_SECRET_FILE, 'JWT secret')
    : undefined
  const embedded = config.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({ dataDir: config.EMBEDDED_PG_DATA_DIR, port: config.EMBEDDED_PG_PORT })
  const appConfig: Config = {
    ...config,
    ...(workerOnly && { SYNC_WORKER: 'on' as const }),
    DATABASE_URL: config.DATABASE_URL ?? embedded?.url,
    ...(generatedKey && { AUTH_SERVICE_KEYS: [{ name: 'generated', key: generatedKey.key }] }),
    ...(developmentJwtSecret && { AUTH_JWT_SECRET: developmentJwtSecret.key }),
  }
  try {
    const migrations = await migrate(appConfig.DATABASE_URL as string)
    const app = await buildApp(appConfig)
    if (embedded)
      app.log.info(
        { dataDir: config.EMBEDDED_PG_DATA_DIR, port: embedded.port },
        'embedded PostgreSQL started',
      )
    if (migrations.applied.length > 0) app.log.info({ applied: migrations.applied }, 'migrations applied')
    if (generatedKey)
      app.log.info(
        { keyFile: generatedKey.file, created: generatedKey.created },
        `no credentials configured: /v1 accepts the service key ${generatedKey.created ? 'generated in' : 'kept in'} ` +
          `${generatedKey.file}; call with -H "authorization: Bearer $(cat ${generatedKey.file})", or set ` +
          'AUTH_SERVICE_KEYS, AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY',
      )
    if (developmentJwtSecret)
      app.log.info(
        { jwtSecretFile: developmentJwtSecret.file },
        `development only: /v1 also accepts user tokens signed with the secret in ${developmentJwtSecret.file}; ` +
          'mint one with `npm run token -- --sub <user> [--role admin]` (off when NODE_ENV=production)',
      )
    installShutdown(
      {
        beginDrain: () => app.drain.begin(),
        // Nothing listens in a worker-only process: its workers stop claiming and it closes at once.
        drainMs: workerOnly ? 0 : config.SHUTDOWN_DRAIN_MS,
        close: async () => {
          await app.close()
          await tracing?.shutdown()
          await embedded?.stop()
        },
        timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
      },
      app.log,
    )
    if (workerOnly) {
      await app.ready()
      app.log.info(
        { concurrency: config.SYNC_WORKER_CONCURRENCY },
        'reconcile workers running (no HTTP server)',
      )
    } else {
      await app.listen({ host: config.HOST, port: config.PORT })
    }
  } catch (error) {
    await embedded?.stop()
    throw error
  }
}

interface ShutdownSequence {
  /** Readiness 503, `Connection: close` on every answer, workers stop claiming. */
  beginDrain: () => void
  /** How long the server goes on serving after beginDrain (SHUTDOWN_DRAIN_MS). */
  drainMs: number
  /** Stops listening, waits for in-flight requests and reconciles, closes the pool (and embedded database). */
  close: () => Promise<void>
  /** How long close() may take (SHUTDOWN_TIMEOUT_MS) before the process exits with code 1. */
  timeoutMs: number
}

/**
 * SIGINT/SIGTERM: drain for drainMs (a load balancer sees readiness fail and moves new work elsewhere;
 * each client closes its connection after its answer), then close within timeoutMs and exit 0. A
 * second signal exits at once (128 + the signal's number), without waiting for anything.
 */
function installShutdown(
  sequence: ShutdownSequence,
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
): void {
  const { beginDrain, drainMs, close, timeoutMs } = sequence
  let shuttingDown = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      log.error({ signal }, 'second signal: exiting at once')
      process.exit(128 + (constants.signals[signal] ?? 0))
    }
    shuttingDown = true
    log.info(
      { signal, drainMs },
      'shutting down: readiness off, serving with Connection: close while draining',
    )
    beginDrain()
    setTimeout(() => {
      log.info({ timeoutMs }, 'drain over: stopping listening, finishing in-flight requests and reconciles')
      const timer = setTimeout(() => {
        log.error({ timeoutMs }, 'shutdown timed out; exiting')
        process.exit(1)
      }, timeoutMs)
      timer.unref()
      close().then(
        () => {
          log.info({}, 'shutdown complete')
          process.exit(0)
        },
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed')
          process.exit(1)
        },
      )
    }, drainMs)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
