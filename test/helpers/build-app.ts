import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
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
 * The app exactly as the server builds it, on a migrated test database, closed at teardown. It accepts
 * the service key TEST_SERVICE_KEY (env.AUTH_SERVICE_KEYS replaces it); every request a test sends
 * says whom it calls as, through injectAs.
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
  await app.ready()
  return { app, config, databaseUrl }
}

/**
 * Whom a test request calls as: `'service'` sends the test service key (TEST_AUTHORIZATION);
 * `{ bearer }` sends that token; `'headers'` adds nothing, so the request's own headers decide (an
 * Authorization header the test builds, malformed, or none at all). A header set to undefined is not sent.
 */
export type TestPrincipal = 'service' | 'headers' | { bearer: string }

/** `app.inject` as `principal`; a request that names its own Authorization header must call as 'headers'. */
export function injectAs(
  app: FastifyInstance,
  principal: TestPrincipal,
  request: InjectOptions | string,
): Promise<LightMyRequestResponse> {
  const options = typeof request === 'string' ? { url: request } : request
  // A header set to undefined is not sent (e.g. `authorization: undefined`: no credentials at all).
  const headers: Record<string, unknown> = Object.fromEntries(
    Object.entries(options.headers ?? {}).filter(([, value]) => value !== undefined),
  )
  if (principal === 'headers') return app.inject({ ...options, headers: headers as InjectOptions['headers'] })
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
    throw new Error("injectAs: the request names its own Authorization header; call as 'headers'")
  }
  headers.authorization = principal === 'service' ? TEST_AUTHORIZATION : `Bearer ${principal.bearer}`
  return app.inject({ ...options, headers: headers as InjectOptions['headers'] })
}
