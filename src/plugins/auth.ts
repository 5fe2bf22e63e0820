import fp from 'fastify-plugin'
import { type Access, authorize } from '../auth/access.ts'
import { Credentials, credentialSettings, type Principal } from '../auth/credentials.ts'
import type { Config } from '../config.ts'
import { securityFor } from './openapi.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set on every request of the scope the auth plugin is registered in. */
    principal: Principal | null
  }
  interface FastifyContextConfig {
    /** Who may call the route (src/auth/access.ts); routes that declare nothing need a service key. */
    access?: Access
  }
}

export interface AuthPluginOptions {
  config: Config
}

/**
 * Authentication and authorization for every route of the scope it is registered in (app.ts
 * registers it in the /v1 scope; health, /openapi.json and /docs live outside it and stay public).
 *
 * One onRequest hook, before the body is read: authenticate the Authorization header
 * (src/auth/credentials.ts; 401 with WWW-Authenticate), set `request.principal`, then let the route's
 * `config.access` decide (src/auth/access.ts; 403). Unknown routes of the scope only authenticate, so
 * they answer 401 without credentials and 404 with them. Every route of the scope is documented with
 * the bearer security requirement (admin operations with a scheme of their own). The header itself is never logged (app.ts redacts it, and errors
 * carry only a description of what failed).
 */
export default fp<AuthPluginOptions>(
  async function authPlugin(app, { config }) {
    const credentials = new Credentials(credentialSettings(config))
    if (!credentials.configured)
      throw new Error(
        'no credentials configured: set AUTH_SERVICE_KEYS, AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY ' +
          '(src/server.ts generates a service key when none is set)',
      )

    app.decorateRequest('principal', null)

    app.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: securityFor(route.config?.access ?? 'service') }
    })

    app.addHook('onRequest', async (request) => {
      request.principal = await credentials.authenticate(request.headers.authorization)
      if (request.is404) return
      authorize(request.routeOptions.config.access ?? 'service', request.principal, request.params)
    })
  },
  { name: 'auth', dependencies: ['errors'] },
)
