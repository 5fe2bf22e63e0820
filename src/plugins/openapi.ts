import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import type { Config } from '../config.ts'
import { packageInfo } from '../package-info.ts'
import type { Access } from './auth/access.ts'
import { finishDocument, type OpenApiDocument } from './openapi-document.ts'

interface OpenapiPluginOptions {
  /** DEPLOYMENT_ENVIRONMENT: named in the server entry. */
  environment: Config['DEPLOYMENT_ENVIRONMENT']
}

/** The name of the bearer security scheme in components.securitySchemes. */
const BEARER_SCHEME = 'bearer'

/** The name of the scheme of the admin operations: the same header, accepted from fewer callers. */
const ADMIN_BEARER_SCHEME = 'adminBearer'

/**
 * The security requirement of a /v1 operation (set by the auth plugin on its routes): admin operations
 * (access 'admin', src/plugins/auth/access.ts) under a scheme of their own, so a reader, a gateway or a security
 * review tells them apart; every other operation under the bearer scheme. Who may call what is decided by
 * access.ts alone; the schemes only document it.
 */
export const securityFor = (access: Access) => [
  { [access === 'admin' ? ADMIN_BEARER_SCHEME : BEARER_SCHEME]: [] },
]

/** The security requirement of public operations (health): none. */
export const PUBLIC_SECURITY = []

/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas (reusable schemas become
 * components via their `.meta({ id })`), finished by ./openapi-document.ts (one component per shape, every
 * response header), served at GET /openapi.json, with interactive docs at /docs. info.version and
 * info.license are package.json's.
 */
export default fp<OpenapiPluginOptions>(
  async function openapiPlugin(app, { environment }) {
    // Internal: the API's clients are the organisation's own services, staff and console (its credentials
    // are service keys and the organisation's user tokens), not third parties.
    const thisServer = {
      url: '/',
      description: `This server: the ${environment} environment (DEPLOYMENT_ENVIRONMENT), for internal clients.`,
      'x-internal': true,
    }
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'rostersync',
          version: packageInfo.version,
          license: { name: packageInfo.license, identifier: packageInfo.license },
          description:
            'Keeps managed calendar sets and crew rosters in sync without losing or duplicating a row. ' +
            'Errors are RFC 9457 application/problem+json; every response carries x-request-id. Each ' +
            'credential may make RATE_LIMIT_MAX requests on /v1 per window, then gets 429 with Retry-After: ' +
            'one budget across every instance when the service shares its counters in Redis, per instance ' +
            'otherwise (x-ratelimit-limit).',
        },
        servers: [thisServer],
        tags: [
          { name: 'calendars', description: "A user's managed calendars, replaced atomically as one set." },
          { name: 'crew', description: 'Technicians, crew calls and their rosters.' },
          { name: 'sync', description: 'Reconciling crew rosters with Flex, and the record of every sync.' },
          { name: 'admin', description: 'Operator checks of the guarantees.' },
          {
            name: 'webhooks',
            description:
              'Signed events sent to the registered endpoints (Standard Webhooks), and their endpoints.',
          },
          { name: 'health', description: 'Liveness and readiness probes.' },
        ],
        components: {
          securitySchemes: {
            [BEARER_SCHEME]: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'service key or JWT',
              description:
                '`Authorization: Bearer <token>` on every /v1 route: a service key (AUTH_SERVICE_KEYS, or the ' +
                'key the server generates in ./.data/service-key), or a user token, a JWT signed with HS256, ' +
                'RS256 or ES256 whose `sub` is the user id and whose `role` (`admin`, `management`) opens the ' +
                'crew, technician and sync routes. Missing or invalid credentials: 401; not allowed: 403.',
            },
            [ADMIN_BEARER_SCHEME]: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'service key or JWT with role admin',
              description:
                'The admin operations (/v1/admin/...): `Authorization: Bearer <token>` with a service key, or a ' +
                'user token (JWT) whose `role` is `admin`. Other user tokens: 403.',
            },
          },
        },
      },
      transform: jsonSchemaTransform,
      transformObject: (document) =>
        finishDocument(jsonSchemaTransformObject(document) as OpenApiDocument) as ReturnType<
          typeof jsonSchemaTransformObject
        >,
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
  },
  { name: 'openapi' },
)
