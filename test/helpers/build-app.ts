import type { FastifyInstance, InjectOptions } from 'fastify'
import { type AppOverrides, buildApp } from '../../src/app.ts'
import { type Config, loadConfig } from '../../src/config.ts'
import { createTestDatabase } from './database.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The service key every test app accepts (AUTH_SERVICE_KEYS=test:<this>). */
export const TEST_SERVICE_KEY = 'test-service-key-0123456789'
export const TEST_AUTHORIZATION = `Bearer ${TEST_SERVICE_KEY}`

export interface BuildOptions {
  /** Share a database between app instances (cross-instance tests); a fresh one otherwise. */
  databaseUrl?: string
  env?: Record<string, string>
  overrides?: AppOverrides
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  databaseUrl: string
}

/**
 * The app exactly as the server builds it, on a migrated test database, closed at teardown.
 *
 * Authentication: the app accepts the service key TEST_SERVICE_KEY (env.AUTH_SERVICE_KEYS replaces
 * it), and `app.inject` sends `authorization: Bearer TEST_SERVICE_KEY` with every request that does
 * not name an `authorization` header itself. So tests that are not about authentication need not
 * think about it; tests that are pass their own header, or `headers: { authorization: undefined }`
 * to send none.
 */
export async function build(t: Teardown, options: BuildOptions = {}): Promise<TestApp> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase(t))
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    AUTH_SERVICE_KEYS: `test:${TEST_SERVICE_KEY}`,
    // Tests that drive syncs by hand want no worker beside them; the autonomy tests turn it on.
    SYNC_WORKER: 'off',
    // /metrics needs a token (it is off without one): the same key, so tests scrape with the default header.
    METRICS_TOKEN: TEST_SERVICE_KEY,
    ...options.env,
    DATABASE_URL: databaseUrl,
  })
  const app = await buildApp(config, { logger: { level: config.LOG_LEVEL }, ...options.overrides })
  t.teardown(() => app.close())
  sendTestKeyByDefault(app)
  await app.ready()
  return { app, config, databaseUrl }
}

function sendTestKeyByDefault(app: FastifyInstance): void {
  const inject = app.inject.bind(app) as (opts?: InjectOptions | string, cb?: unknown) => unknown
  const withKey = (opts: InjectOptions | string): InjectOptions => {
    const options = typeof opts === 'string' ? { url: opts } : opts
    const headers: Record<string, unknown> = { ...options.headers }
    const named = Object.keys(headers).find((name) => name.toLowerCase() === 'authorization')
    if (named === undefined) headers.authorization = TEST_AUTHORIZATION
    else if (headers[named] === undefined) delete headers[named]
    return { ...options, headers: headers as InjectOptions['headers'] }
  }
  app.inject = ((opts?: InjectOptions | string, cb?: unknown) => {
    if (opts === undefined) return inject() // the chain API: set the header yourself
    return cb === undefined ? inject(withKey(opts)) : inject(withKey(opts), cb)
  }) as FastifyInstance['inject']
}
