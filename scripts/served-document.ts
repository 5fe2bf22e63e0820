/**
 * The OpenAPI document exactly as GET /openapi.json serves it, from an app that never touches a database:
 * what `npm run sdk` writes to sdk/openapi.json and what `npm run lint:openapi` lints.
 */
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'

export async function servedDocument(env: Record<string, string> = {}): Promise<unknown> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    // Never connected to: the pool opens its first connection on its first query.
    DATABASE_URL: 'postgresql://sdk@127.0.0.1:9/sdk',
    AUTH_SERVICE_KEYS: 'sdk:sdk-generator-placeholder-key',
    ...env,
  })
  const app = await buildApp(config, { logger: false })
  try {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' })
    if (response.statusCode !== 200)
      throw new Error(`GET /openapi.json answered ${response.statusCode}: ${response.body}`)
    return response.json()
  } finally {
    await app.close()
  }
}
