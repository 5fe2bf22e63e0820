import t from 'tap'
import { readMigrations } from '../../../src/db/migrations.ts'
import { build, injectAs } from '../../helpers/build-app.ts'
import { serverUrl, withClient } from '../../helpers/database.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const { app } = await build(t)

t.test('GET /health/live answers ok', async (t) => {
  const response = await injectAs(app, 'service', { method: 'GET', url: '/health/live' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'ok' })
})

t.test('GET /health/ready answers ok on a migrated database', async (t) => {
  const response = await injectAs(app, 'service', { method: 'GET', url: '/health/ready' })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'ok' })
})

t.test('GET /health/ready answers 503 naming a migration that is not applied', async (t) => {
  const { app: unmigrated, databaseUrl } = await build(t)
  const [migration] = await readMigrations()
  if (!migration) throw new Error('prisma/migrations holds no migration')
  await withClient(databaseUrl, (c) =>
    c.query(`DELETE FROM "_prisma_migrations" WHERE migration_name = $1`, [migration.name]),
  )
  const response = await unmigrated.inject({ method: 'GET', url: '/health/ready' })
  t.equal(response.statusCode, 503)
  t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(response.json(), {
    type: 'urn:rostersync:problem:service-unavailable',
    status: 503,
    detail: new RegExp(migration.name),
  })
})

t.test(
  'GET /health/ready answers 503, promptly, when the database is gone',
  { timeout: 15_000 },
  async (t) => {
    const { app: orphan, databaseUrl } = await build(t)
    t.equal((await orphan.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'ready before')
    const database = new URL(databaseUrl).pathname.slice(1)
    await withClient(await serverUrl(), (c) => c.query(`DROP DATABASE "${database}" WITH (FORCE)`))

    const response = await orphan.inject({ method: 'GET', url: '/health/ready' })
    t.equal(response.statusCode, 503)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.match(response.json(), { type: 'urn:rostersync:problem:service-unavailable' })
  },
)

t.test('x-request-id', async (t) => {
  const requestId = async (headers: Record<string, string>) =>
    (await injectAs(app, 'service', { method: 'GET', url: '/health/live', headers })).headers['x-request-id']

  t.equal(await requestId({ 'x-request-id': 'abc-123' }), 'abc-123', 'a sane id is echoed')
  t.match(await requestId({}), UUID, 'a UUID is generated when absent')
  const insane: [string, string][] = [
    ['an id of 200 characters', 'a'.repeat(200)],
    ['an id with a space', 'abc 123'],
    ['an id with a newline', 'abc\n123'],
    ['an empty id', ''],
  ]
  for (const [description, id] of insane) {
    t.match(await requestId({ 'x-request-id': id }), UUID, `${description} is replaced by a UUID`)
  }
})
