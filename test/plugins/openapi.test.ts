import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { packageInfo } from '../../src/package-info.ts'
import { build, injectAs } from '../helpers/build-app.ts'
import { PROBLEM_CONTENT_TYPE, PROBLEM_JSON } from '../helpers/problem.ts'

interface Operation {
  operationId?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  responses: Record<string, { content?: Record<string, unknown> }>
}

interface OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: {
    schemas: Record<string, unknown>
    headers?: Record<string, unknown>
    parameters?: Record<string, unknown>
    securitySchemes?: Record<string, unknown>
  }
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])
const PROBLEM_CONTENT = { [PROBLEM_JSON]: { schema: { $ref: '#/components/schemas/Problem' } } }

const { app } = await build(t)
const response = await injectAs(app, 'service', { method: 'GET', url: '/openapi.json' })
const document = response.json<OpenApiDocument>()
const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => HTTP_METHODS.has(method))
    .map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, operation })),
)

t.test('GET /openapi.json serves an OpenAPI 3.1 document', async (t) => {
  t.equal(response.statusCode, 200)
  t.equal(document.openapi, '3.1.0')
  t.ok(operations.length > 0, 'it documents operations')
})

t.test('every operation has a unique operationId and tags', async (t) => {
  for (const { name, operation } of operations) {
    t.ok(operation.operationId, `${name} has an operationId`)
    t.ok(operation.tags?.length, `${name} has tags`)
  }
  const ids = operations.map(({ operation }) => operation.operationId)
  t.same(ids, [...new Set(ids)], 'operationIds are unique')
})

t.test('PUT /v1/users/{userId}/calendars documents its outcomes', async (t) => {
  const responses = document.paths['/v1/users/{userId}/calendars']?.put?.responses ?? {}
  for (const status of ['200', '400', '412', '503']) t.ok(responses[status], `documents ${status}`)
})

t.test(
  'every /v1 operation requires the bearer scheme and documents 401 and 403; health is public',
  async (t) => {
    t.match(document.components.securitySchemes, {
      bearer: { type: 'http', scheme: 'bearer' },
      adminBearer: { type: 'http', scheme: 'bearer' },
    })
    for (const { name, operation } of operations) {
      if (name.split(' ')[1]?.startsWith('/v1/')) {
        // Admin operations (access 'admin': the operator checks and the webhook endpoints) have a scheme
        // of their own: the same header; access.ts decides who may call (test/routes/authorization.test.ts).
        const path = name.split(' ')[1] ?? ''
        const admin = path.startsWith('/v1/admin/') || path.startsWith('/v1/webhook-endpoints')
        const scheme = admin ? 'adminBearer' : 'bearer'
        t.same(operation.security, [{ [scheme]: [] }], `${name} requires a bearer token (${scheme})`)
        t.ok(operation.responses['401'] && operation.responses['403'], `${name} documents 401 and 403`)
      } else {
        t.ok(Array.isArray(operation.security), `${name} declares its security`)
        if (name.includes(' /health/')) t.same(operation.security, [], `${name} is public`)
      }
    }
  },
)

t.test('every error response is application/problem+json with the Problem schema', async (t) => {
  for (const { name, operation } of operations) {
    for (const [status, documented] of Object.entries(operation.responses)) {
      if (Number(status) >= 400) t.same(documented.content, PROBLEM_CONTENT, `${name} ${status}`)
    }
  }
})

t.test('the reusable schemas are components, and every $ref resolves', async (t) => {
  const schemas = document.components.schemas
  for (const name of ['Problem', 'Calendar', 'CalendarSet', 'ReplaceCalendarsResult']) {
    t.ok(schemas[name], `components.schemas.${name}`)
  }
  const components: Record<string, Record<string, unknown> | undefined> = {
    schemas,
    headers: document.components.headers,
    parameters: document.components.parameters,
  }
  for (const ref of new Set(refsIn(document))) {
    const [kind, name] = ref.replace('#/components/', '').split('/')
    t.ok(ref.startsWith('#/components/') && components[kind ?? '']?.[name ?? ''], `${ref} resolves`)
  }
})

t.test('one component per shape: no Input twins, none unused', async (t) => {
  const names = Object.keys(document.components.schemas)
  t.same(
    names.filter((name) => name.endsWith('Input')),
    [],
    'no XInput twin',
  )
  const referenced = new Set(refsIn(document).map((ref) => ref.split('/').pop()))
  t.same(
    names.filter((name) => !referenced.has(name)),
    [],
    'every component is referenced',
  )
})

t.test('info: the version and license of package.json', async (t) => {
  const { info } = document as unknown as { info: { version: string; license?: { name: string } } }
  t.equal(info.version, packageInfo.version)
  t.equal(info.license?.name, 'MIT')
})

t.test('GET /docs serves the interactive documentation', async (t) => {
  const docs = await getFollowingRedirects(app, '/docs')
  t.ok(docs.statusCode < 400, `status ${docs.statusCode}`)
  t.match(docs.headers['content-type'], /^text\/html/)
  t.match(docs.body, /<html/i)
})

t.test('an unknown route answers 404 problem+json', async (t) => {
  const notFound = await injectAs(app, 'service', { method: 'GET', url: '/no/such/route?x=1' })
  t.equal(notFound.statusCode, 404)
  t.match(notFound.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(notFound.json(), {
    type: 'urn:rostersync:problem:not-found',
    status: 404,
    instance: '/no/such/route',
    requestId: notFound.headers['x-request-id'],
  })
})

function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn)
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, child]) =>
    key === '$ref' && typeof child === 'string' ? [child] : refsIn(child),
  )
}

async function getFollowingRedirects(app: FastifyInstance, url: string, hops = 3) {
  const answer = await injectAs(app, 'service', { method: 'GET', url })
  const location = answer.headers.location
  if (hops === 0 || answer.statusCode < 300 || answer.statusCode >= 400 || !location) return answer
  return getFollowingRedirects(app, new URL(location, `http://localhost${url}`).pathname, hops - 1)
}
