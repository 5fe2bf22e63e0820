import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'

/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas (reusable schemas become
 * components via their `.meta({ id })`), served at GET /openapi.json, with interactive docs at /docs.
 */
export default fp(
  async function openapiPlugin(app) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'rostersync',
          version: '1.0.0',
          description:
            'Keeps managed calendar sets and crew rosters in sync without losing or duplicating a row. ' +
            'Errors are RFC 9457 application/problem+json; every response carries x-request-id.',
        },
        servers: [{ url: '/', description: 'This server' }],
        tags: [
          { name: 'calendars', description: "A user's managed calendars, replaced atomically as one set." },
          { name: 'crew', description: 'Technicians, crew calls and their rosters.' },
          { name: 'sync', description: 'Reconciling crew rosters with Flex, and the record of every sync.' },
          { name: 'health', description: 'Liveness and readiness probes.' },
        ],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
  },
  { name: 'openapi' },
)
