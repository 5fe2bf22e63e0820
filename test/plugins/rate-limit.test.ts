import t from 'tap'
import { build, injectAs, TEST_AUTHORIZATION } from '../helpers/build-app.ts'
import { calendarsUrl } from '../helpers/calendars.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

const OTHER_KEY = 'other-service-key-0123456789'

t.test('each credential gets its own budget; over it, 429 problem+json with Retry-After', async (t) => {
  const { app } = await build(t, {
    env: {
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
      AUTH_SERVICE_KEYS: `test:${TEST_AUTHORIZATION.slice('Bearer '.length)},other:${OTHER_KEY}`,
    },
  })
  const get = (authorization = TEST_AUTHORIZATION) =>
    injectAs(app, 'headers', { method: 'GET', url: calendarsUrl('limited'), headers: { authorization } })
  for (let i = 0; i < 3; i++) t.equal((await get()).statusCode, 200, `request ${i + 1} is within budget`)
  const limited = await get()
  t.equal(limited.statusCode, 429)
  t.match(limited.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After')
  t.match(limited.json(), { type: 'urn:rostersync:problem:rate-limited', status: 429, requestId: String })
  t.equal(limited.headers['x-ratelimit-limit'], '3')
  t.equal((await get(`Bearer ${OTHER_KEY}`)).statusCode, 200, 'another credential is not affected')
  const health = await injectAs(app, 'service', { method: 'GET', url: '/health/live' })
  t.equal(health.statusCode, 200, 'health routes are not limited')
})

t.test('the OpenAPI document lists 429 on every /v1 operation', async (t) => {
  const { app } = await build(t)
  const document = (await injectAs(app, 'service', { method: 'GET', url: '/openapi.json' })).json()
  for (const [path, operations] of Object.entries<Record<string, { responses: object }>>(document.paths)) {
    if (!path.startsWith('/v1/')) continue
    for (const [method, operation] of Object.entries(operations)) {
      t.ok('429' in operation.responses, `${method.toUpperCase()} ${path}`)
    }
  }
})
