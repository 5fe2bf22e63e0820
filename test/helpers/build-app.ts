import type { FastifyInstance } from 'fastify'
import { type AppOverrides, buildApp } from '../../src/app.ts'
import { type Config, loadConfig } from '../../src/config.ts'
import { createTestDatabase } from './database.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

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

/** The app exactly as the server builds it, on a migrated test database, closed at teardown. */
export async function build(t: Teardown, options: BuildOptions = {}): Promise<TestApp> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase(t))
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    ...options.env,
    DATABASE_URL: databaseUrl,
  })
  const app = await buildApp(config, { logger: { level: config.LOG_LEVEL }, ...options.overrides })
  t.teardown(() => app.close())
  await app.ready()
  return { app, config, databaseUrl }
}
