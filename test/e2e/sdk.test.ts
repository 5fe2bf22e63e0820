import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  DOCUMENT_FILE,
  formatDocument,
  headerHash,
  OPENAPI_TYPESCRIPT,
  SCHEMA_FILE,
  schemaHeader,
  sha256,
} from '../../scripts/sdk-document.ts'
import { createRostersyncClient, type FieldError, type Problem, type Schemas } from '../../sdk/src/index.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startFakeFlex } from '../helpers/fake-flex.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'
import { startServer } from '../helpers/server-process.ts'

/**
 * The generated SDK (sdk/) against the real server process (src/server.ts) on its own database and a
 * fake Flex: every call goes over HTTP through createRostersyncClient, and the committed contract
 * (sdk/openapi.json, sdk/src/schema.d.ts) must be what the server serves now.
 */

const SERVICE_KEY = 'sdk-e2e-service-key-0123456789'
const JOB = 'J42'
const ELEMENT = 'el-9001'

const flex = await startFakeFlex()
t.teardown(() => flex.close())
const server = await startServer(t, {
  DATABASE_URL: await createTestDatabase(t),
  AUTH_SERVICE_KEYS: `sdk-e2e:${SERVICE_KEY}`,
  FLEX_BASE_URL: flex.url,
  FLEX_AUTH_TOKEN: flex.token,
  FLEX_BUSINESS_ROLES: JSON.stringify({ sound: { R: 'br-sound-r', E: 'br-sound-e' } }),
})
await server.ready()
const api = createRostersyncClient({ baseUrl: server.url, token: SERVICE_KEY })

const crewCall = { path: { jobId: JOB, department: 'sound' as const } }

t.test('the committed SDK is generated from the document the server serves now', async (t) => {
  const served = await fetch(`${server.url}/openapi.json`)
  t.equal(served.status, 200)
  const document = formatDocument(await served.json())
  const committed = await readFile(DOCUMENT_FILE, 'utf8')
  t.ok(committed === document, 'sdk/openapi.json is the served document (if not: npm run sdk, and commit)')
  if (committed !== document) t.same(JSON.parse(committed), JSON.parse(document), 'how they differ')

  const schema = await readFile(SCHEMA_FILE, 'utf8')
  t.equal(headerHash(schema), sha256(committed), 'sdk/src/schema.d.ts was generated from sdk/openapi.json')
})

t.test(
  'sdk/src/schema.d.ts is exactly what openapi-typescript generates from sdk/openapi.json',
  {
    skip: existsSync(OPENAPI_TYPESCRIPT)
      ? false
      : 'sdk/node_modules is not installed (npm run sdk installs it)',
  },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'rostersync-sdk-test-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const output = join(dir, 'schema.d.ts')
    const generated = spawnSync(OPENAPI_TYPESCRIPT, [DOCUMENT_FILE, '--output', output], { encoding: 'utf8' })
    t.equal(generated.status, 0, 'openapi-typescript succeeds', { stderr: generated.stderr })
    const expected = schemaHeader(await readFile(DOCUMENT_FILE, 'utf8')) + (await readFile(output, 'utf8'))
    t.ok((await readFile(SCHEMA_FILE, 'utf8')) === expected, 'no difference (if there is: npm run sdk)')
  },
)

t.test('calendars: replace and read through the SDK, with typed versions, ETags and changes', async (t) => {
  const userId = { path: { userId: 'alice' } }
  const calendars: Schemas['CalendarListEntry'][] = [
    { calendarId: 'alice@example.com', summary: 'Alice', timeZone: 'Europe/Madrid', primary: true },
    { calendarId: 'team@group.calendar.google.com', summary: 'Team', backgroundColor: '#9fe1e7' },
  ]

  const replaced = await api.PUT('/v1/users/{userId}/calendars', { params: userId, body: { calendars } })
  t.equal(replaced.response.status, 200)
  t.equal(replaced.response.headers.get('etag'), '"1"')
  t.equal(replaced.error, undefined)
  const version: number = replaced.data?.version ?? -1
  t.equal(version, 1)
  t.same(replaced.data?.changes, { created: 2, updated: 0, deleted: 0, unchanged: 0 })

  const read = await api.GET('/v1/users/{userId}/calendars', { params: userId })
  t.equal(read.response.headers.get('etag'), '"1"')
  t.equal(read.data?.version, 1)
  t.same(
    read.data?.calendars.map((calendar) => [calendar.calendarId, calendar.primary, calendar.timeZone]),
    [
      ['alice@example.com', true, 'Europe/Madrid'],
      ['team@group.calendar.google.com', false, null],
    ],
  )
  t.match(read.data?.calendars[0]?.createdAt, /^\d{4}-\d\d-\d\dT/, 'timestamps are ISO strings')

  const replayed = await api.PUT('/v1/users/{userId}/calendars', {
    params: { ...userId, header: { 'if-match': '"1"' } },
    body: { calendars },
  })
  t.equal(replayed.data?.version, 1, 'the same set again changes nothing')
  t.same(replayed.data?.changes, { created: 0, updated: 0, deleted: 0, unchanged: 2 })

  const stale = await api.PUT('/v1/users/{userId}/calendars', {
    params: { ...userId, header: { 'if-match': '"0"' } },
    body: { calendars: [] },
  })
  t.equal(stale.response.status, 412)
  t.equal(stale.error?.type, 'urn:rostersync:problem:precondition-failed')
  t.equal(stale.response.headers.get('etag'), '"1"', 'with the current ETag')
})

t.test('a refused request comes back as a typed Problem with errors[]', async (t) => {
  const duplicate = { calendarId: 'dup@example.com', summary: 'Dup' }
  const { data, error, response } = await api.PUT('/v1/users/{userId}/calendars', {
    params: { path: { userId: 'bob' } },
    body: { calendars: [duplicate, duplicate] },
  })
  t.equal(data, undefined)
  t.equal(response.status, 400)
  t.match(response.headers.get('content-type'), PROBLEM_CONTENT_TYPE)
  const problem: Problem | undefined = error
  t.match(problem, {
    type: 'urn:rostersync:problem:validation',
    status: 400,
    instance: '/v1/users/bob/calendars',
    requestId: response.headers.get('x-request-id'),
  })
  const errors: FieldError[] = problem?.errors ?? []
  t.same(
    errors.map((e) => [e.in, e.pointer]),
    [['body', '/calendars/1/calendarId']],
    'names the duplicate by its JSON pointer',
  )

  const read = await api.GET('/v1/users/{userId}/calendars', { params: { path: { userId: 'bob' } } })
  t.equal(read.data?.version, 0, 'nothing was written')

  const anonymous = createRostersyncClient({ baseUrl: server.url, token: 'not-a-configured-key-0123' })
  const refused = await anonymous.GET('/v1/users/{userId}/calendars', { params: { path: { userId: 'bob' } } })
  t.equal(refused.response.status, 401)
  t.equal(refused.error?.type, 'urn:rostersync:problem:unauthorized', 'an unknown key is a 401 Problem')
})

t.test('crew: technicians, a crew call and its roster, synced with Flex and recorded', async (t) => {
  for (const [id, name, flexResourceId] of [
    ['ana', 'Ana', 'c-101'],
    ['ben', 'Ben', 'c-102'],
  ] as const) {
    const put = await api.PUT('/v1/technicians/{technicianId}', {
      params: { path: { technicianId: id } },
      body: { name, flexResourceId },
    })
    t.equal(put.response.status, 201, `technician ${id} created`)
    t.match(put.data, { id, name, flexResourceId })
  }

  const call = await api.PUT('/v1/jobs/{jobId}/crew-calls/{department}', {
    params: crewCall,
    body: { flexElementId: ELEMENT },
  })
  t.equal(call.response.status, 201)
  t.match(call.data, { jobId: JOB, department: 'sound', flexElementId: ELEMENT })

  const roster = await api.PUT('/v1/jobs/{jobId}/crew-calls/{department}/assignments', {
    params: crewCall,
    body: {
      assignments: [
        { technicianId: 'ana', role: 'SND-FOH-R' },
        { technicianId: 'ben', role: 'SND-MON-E' },
      ],
    },
  })
  t.equal(roster.response.status, 200)
  t.equal(roster.response.headers.get('etag'), '"1"')
  t.equal(roster.data?.version, 1)
  t.same(roster.data?.changes, { created: 2, updated: 0, deleted: 0, unchanged: 0 })

  const plan = await api.POST('/v1/jobs/{jobId}/crew-calls/{department}/sync', {
    params: { ...crewCall, query: { dryRun: true } },
  })
  t.ok(plan.data && 'plan' in plan.data, 'a dry run answers the plan')
  t.equal(flex.lines(ELEMENT).length, 0, 'and changes nothing in Flex')

  const synced = await api.POST('/v1/jobs/{jobId}/crew-calls/{department}/sync', { params: crewCall })
  t.equal(synced.response.status, 200)
  const run = synced.data && 'run' in synced.data ? synced.data.run : undefined
  t.match(run, { jobId: JOB, department: 'sound', status: 'succeeded', errors: [] })
  // Adds run side by side: `added` lists them in the order Flex answered.
  t.same(run?.added.toSorted(), ['ana', 'ben'])
  t.same(
    flex
      .lines(ELEMENT)
      .map((line) => [line.resourceId, line.businessRoleId])
      .sort(),
    [
      ['c-101', 'br-sound-r'],
      ['c-102', 'br-sound-e'],
    ],
    'Flex holds one line per rostered technician, with its business role',
  )

  const assignments = await api.GET('/v1/jobs/{jobId}/crew-calls/{department}/assignments', {
    params: crewCall,
  })
  const recorded = new Set(flex.lines(ELEMENT).map((line) => line.id))
  t.ok(
    assignments.data?.assignments.every((a) => a.flexLineItemId !== null && recorded.has(a.flexLineItemId)),
    'every assignment records its Flex line',
  )

  const runs = await api.GET('/v1/sync-runs', { params: { query: { jobId: JOB, department: 'sound' } } })
  t.equal(runs.response.status, 200)
  t.same(
    runs.data?.runs.map((r) => r.id),
    [run?.id],
    'the run is in the history (the dry run is not)',
  )
  t.match(runs.data?.runs[0], { status: 'succeeded', trigger: 'manual' })
  t.same(runs.data?.runs[0]?.added.toSorted(), ['ana', 'ben'])
  t.equal(runs.data?.nextCursor, null)
})

t.test('a sync replayed with the same Idempotency-Key answers the stored response', async (t) => {
  const key = `sdk-e2e-${Date.now()}`
  // The SDK types the header: the document declares Idempotency-Key on every POST and PUT of /v1.
  const request = { params: { ...crewCall, header: { 'idempotency-key': key } } }
  const runCount = async () =>
    (await api.GET('/v1/sync-runs', { params: { query: { jobId: JOB, limit: 100 } } })).data?.runs.length
  const runsBefore = await runCount()

  const first = await api.POST('/v1/jobs/{jobId}/crew-calls/{department}/sync', request)
  t.equal(first.response.status, 200)
  t.not(first.response.headers.get('idempotent-replayed'), 'true', 'the first request is not a replay')
  t.equal(await runCount(), (runsBefore ?? 0) + 1, 'it ran a sync')
  const callsToFlex = flex.calls.length

  const again = await api.POST('/v1/jobs/{jobId}/crew-calls/{department}/sync', request)
  t.equal(again.response.status, first.response.status, 'the same status')
  t.equal(again.response.headers.get('idempotent-replayed'), 'true', 'marked as a replay')
  t.equal(JSON.stringify(again.data), JSON.stringify(first.data), 'the identical stored body')
  t.equal(await runCount(), (runsBefore ?? 0) + 1, 'the replay ran no sync')
  t.equal(flex.calls.length, callsToFlex, 'and made no call to Flex')
})
