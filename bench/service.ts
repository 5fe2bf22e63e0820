import { buildApp } from '../src/app.ts'
import { type Config, loadConfig } from '../src/config.ts'
import type { Cleanup } from './lib.ts'
import type { ReplaceCalendars } from './workload.ts'

/** The service key the benchmarks' app accepts and their clients send. */
export const BENCH_SERVICE_KEY = 'bench-service-key-0123456789'
// One key drives the whole load, far beyond the per-credential rate limit meant for real clients.
export const BENCH_AUTH = { AUTH_SERVICE_KEYS: `bench:${BENCH_SERVICE_KEY}`, RATE_LIMIT_MAX: '1000000000' }

/** The app's configuration in every benchmark: the environment overridden by `env`, logs silenced, the bench key. */
export function benchConfig(env: Record<string, string>): Config {
  return loadConfig({ ...process.env, LOG_LEVEL: 'silent', ...BENCH_AUTH, ...env })
}

/**
 * The real app, configured from the environment overridden by `env` (logs silenced), listening on a free
 * port of 127.0.0.1. Returns its origin, e.g. http://127.0.0.1:41234.
 */
export async function startApp(env: Record<string, string>, cleanup: Cleanup): Promise<string> {
  const app = await buildApp(benchConfig(env))
  cleanup.add(() => {
    const closed = app.close()
    // Keep-alive connections of requests cut short (SIGINT) would otherwise hold close() for 72 s.
    app.server.closeAllConnections()
    return closed
  })
  return app.listen({ host: '127.0.0.1', port: 0 })
}

/** PUT /v1/users/{userId}/calendars over HTTP (keep-alive); fails on any status but 200. */
export function replaceOverHttp(origin: string): ReplaceCalendars {
  return async (userId, calendars) => {
    const response = await fetch(`${origin}/v1/users/${encodeURIComponent(userId)}/calendars`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_SERVICE_KEY}` },
      body: JSON.stringify({ calendars }),
    })
    const body = await response.text()
    if (response.status !== 200) {
      throw new Error(`PUT calendars of ${userId}: HTTP ${response.status} ${body.slice(0, 500)}`)
    }
  }
}
