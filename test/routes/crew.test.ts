import t from 'tap'
import { build } from '../helpers/build-app.ts'
import {
  crewCallUrl,
  putCrewCall,
  putTechnicians,
  replaceRoster,
  roster,
  technicianId,
} from '../helpers/crew.ts'
import { withClient } from '../helpers/database.ts'

const { app, databaseUrl } = await build(t)
await putTechnicians(app, 5)

t.test('technicians: created, updated, read; one Flex resource per technician', async (t) => {
  const put = (id: string, body: object) =>
    app.inject({ method: 'PUT', url: `/v1/technicians/${id}`, payload: body })
  const created = await put('alice', { name: 'Alice', flexResourceId: 'res-alice' })
  t.equal(created.statusCode, 201)
  t.match(created.json(), { id: 'alice', name: 'Alice', flexResourceId: 'res-alice', createdAt: String })
  t.equal(
    (await put('alice', { name: 'Alice', flexResourceId: 'res-alice' })).statusCode,
    200,
    'a replay is 200',
  )
  const renamed = await put('alice', { name: 'Alice B', flexResourceId: 'res-alice' })
  t.equal(renamed.statusCode, 200)
  t.equal(renamed.json().createdAt, created.json().createdAt)
  const read = await app.inject({ method: 'GET', url: '/v1/technicians/alice' })
  t.equal(read.json().name, 'Alice B')

  const taken = await put('bob', { name: 'Bob', flexResourceId: 'res-alice' })
  t.equal(taken.statusCode, 409)
  t.match(taken.json(), { type: 'urn:rostersync:problem:conflict', detail: /res-alice.*alice/ })
  const missing = await app.inject({ method: 'GET', url: '/v1/technicians/nobody' })
  t.equal(missing.statusCode, 404)
  const invalid = await put('carol', { name: '', flexResourceId: 'x', extra: 1 })
  t.equal(invalid.statusCode, 400)
  t.same(
    invalid
      .json()
      .errors.map((e: { pointer: string }) => e.pointer)
      .sort(),
    ['/extra', '/name'],
  )
})

t.test('crew calls: one per job and department, each on its own Flex element', async (t) => {
  const first = await app.inject({
    method: 'PUT',
    url: crewCallUrl('lights', 'job-cc'),
    payload: { flexElementId: 'el-l' },
  })
  t.equal(first.statusCode, 201)
  t.match(first.json(), { jobId: 'job-cc', department: 'lights', flexElementId: 'el-l', id: String })
  const again = await app.inject({
    method: 'PUT',
    url: crewCallUrl('lights', 'job-cc'),
    payload: { flexElementId: 'el-l' },
  })
  t.equal(again.statusCode, 200)
  t.equal(again.json().id, first.json().id)
  const shared = await app.inject({
    method: 'PUT',
    url: crewCallUrl('video', 'job-cc'),
    payload: { flexElementId: 'el-l' },
  })
  t.equal(shared.statusCode, 409, 'an element serves one crew call')
  const badDepartment = await app.inject({
    method: 'PUT',
    url: crewCallUrl('catering', 'job-cc'),
    payload: { flexElementId: 'x' },
  })
  t.equal(badDepartment.statusCode, 400)
  t.equal(badDepartment.json().errors[0].pointer, '/department')
  const read = await app.inject({ method: 'GET', url: crewCallUrl('lights', 'job-cc') })
  t.same(read.json(), {
    ...first.json(),
    version: 0,
    assignments: [],
    // No Flex is configured for this app: nothing will run a sync, and the state says so.
    sync: {
      state: 'not-configured',
      rosterVersion: 0,
      syncedVersion: null,
      attempts: 0,
      lostRuns: 0,
      lastRunId: null,
      lastError: null,
      nextAttemptAt: null,
    },
  })
  t.equal((await app.inject({ method: 'GET', url: crewCallUrl('video', 'job-cc') })).statusCode, 404)
})

t.test('a crew call with lines recorded in Flex keeps its element', async (t) => {
  const crewCall = await putCrewCall(app, 'video', 'el-v', 'job-move')
  await app.inject({
    method: 'PUT',
    url: `${crewCallUrl('video', 'job-move')}/assignments/${technicianId(0)}`,
    payload: {},
  })
  await withClient(databaseUrl, (c) =>
    c.query(`UPDATE crew_assignments SET flex_line_item_id = 'line-x' WHERE crew_call_id = $1`, [
      crewCall.id,
    ]),
  )
  const moved = await app.inject({
    method: 'PUT',
    url: crewCallUrl('video', 'job-move'),
    payload: { flexElementId: 'el-other' },
  })
  t.equal(moved.statusCode, 409)
})

t.test('roster replace: versioned, serialized, replay is a no-op', async (t) => {
  await putCrewCall(app)
  const first = await replaceRoster(app, roster(3, 'SND-FOH-R'))
  t.equal(first.statusCode, 200)
  t.equal(first.headers.etag, '"1"')
  t.same(first.json().changes, { created: 3, updated: 0, deleted: 0, unchanged: 0 })
  t.same(first.json().assignments[0], {
    technicianId: 'tech-0',
    role: 'SND-FOH-R',
    flexLineItemId: null,
    syncedAt: null,
  })

  const replay = await replaceRoster(app, roster(3, 'SND-FOH-R'))
  t.same(replay.json().changes, { created: 0, updated: 0, deleted: 0, unchanged: 3 })
  t.equal(replay.json().version, 1)

  const next = await replaceRoster(app, [
    { technicianId: technicianId(0), role: 'SND-FOH-E' },
    { technicianId: technicianId(1), role: 'SND-FOH-R' },
    { technicianId: technicianId(4) },
  ])
  t.same(next.json().changes, { created: 1, updated: 1, deleted: 1, unchanged: 1 })
  t.equal(next.json().version, 2)

  const stale = await replaceRoster(app, roster(1), 'sound', { 'if-match': '"1"' })
  t.equal(stale.statusCode, 412)
  t.equal(stale.headers.etag, '"2"')
  const read = await app.inject({ method: 'GET', url: `${crewCallUrl()}/assignments` })
  t.equal(read.headers.etag, '"2"')
  t.same(
    read.json().assignments.map((a: { technicianId: string }) => a.technicianId),
    ['tech-0', 'tech-1', 'tech-4'],
  )
})

t.test('roster input is validated and unknown technicians are named', async (t) => {
  const before = (await app.inject({ method: 'GET', url: `${crewCallUrl()}/assignments` })).json()
  const unknown = await replaceRoster(app, [{ technicianId: technicianId(0) }, { technicianId: 'ghost' }])
  t.equal(unknown.statusCode, 400)
  t.same(unknown.json().errors, [
    { in: 'body', pointer: '/assignments/1/technicianId', detail: 'unknown technician ghost' },
  ])
  const duplicate = await replaceRoster(app, [
    { technicianId: technicianId(0) },
    { technicianId: technicianId(0) },
  ])
  t.equal(duplicate.json().errors[0].pointer, '/assignments/1/technicianId')
  const badRole = await replaceRoster(app, [{ technicianId: technicianId(0), role: 'sound guy' }])
  t.equal(badRole.json().errors[0].pointer, '/assignments/0/role')
  const noCrewCall = await app.inject({
    method: 'PUT',
    url: `${crewCallUrl('video', 'no-such-job')}/assignments`,
    payload: { assignments: [] },
  })
  t.equal(noCrewCall.statusCode, 404)
  t.same(
    (await app.inject({ method: 'GET', url: `${crewCallUrl()}/assignments` })).json(),
    before,
    'nothing written',
  )
})

t.test('single assignments: idempotent upsert and delete', async (t) => {
  await replaceRoster(app, [])
  const url = `${crewCallUrl()}/assignments/${technicianId(2)}`
  const created = await app.inject({ method: 'PUT', url, payload: { role: 'SND-MON-T' } })
  t.equal(created.statusCode, 201)
  t.same(created.json(), { technicianId: 'tech-2', role: 'SND-MON-T', flexLineItemId: null, syncedAt: null })
  const version = created.headers.etag
  const same = await app.inject({ method: 'PUT', url, payload: { role: 'SND-MON-T' } })
  t.equal(same.statusCode, 200)
  t.equal(same.headers.etag, version, 'a no-op keeps the version')
  const unknown = await app.inject({ method: 'PUT', url: `${crewCallUrl()}/assignments/ghost`, payload: {} })
  t.equal(unknown.statusCode, 400)
  t.same(unknown.json().errors[0], {
    in: 'path',
    pointer: '/technicianId',
    detail: 'unknown technician ghost',
  })
  t.equal((await app.inject({ method: 'DELETE', url })).statusCode, 204)
  t.equal((await app.inject({ method: 'DELETE', url })).statusCode, 204, 'also when absent')
  const read = await app.inject({ method: 'GET', url: `${crewCallUrl()}/assignments` })
  t.same(read.json().assignments, [])
})

t.test(
  'departments come from CREW_DEPARTMENTS: accepted, refused, and the enum of the OpenAPI document',
  async (t) => {
    const { app } = await build(t, { env: { CREW_DEPARTMENTS: 'rigging,sound' } })
    const rigging = await app.inject({
      method: 'PUT',
      url: crewCallUrl('rigging', 'job-dep'),
      payload: { flexElementId: 'el-rigging' },
    })
    t.equal(rigging.statusCode, 201, rigging.body)
    t.equal(rigging.json().department, 'rigging')
    const lights = await app.inject({
      method: 'PUT',
      url: crewCallUrl('lights', 'job-dep'),
      payload: { flexElementId: 'el-lights' },
    })
    t.equal(lights.statusCode, 400, 'a department not configured is refused')
    t.match(lights.json().errors, [{ in: 'path', pointer: '/department', detail: /rigging.*sound/ }])
    const runs = await app.inject({ method: 'GET', url: '/v1/sync-runs?department=lights' })
    t.equal(runs.statusCode, 400, 'in the query too')
    t.match(runs.json().errors, [{ in: 'query', pointer: '/department' }])
    t.equal((await app.inject({ method: 'GET', url: '/v1/sync-runs?department=rigging' })).statusCode, 200)
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
    const parameters = Object.values(
      document.paths as Record<string, Record<string, { parameters?: unknown[] }>>,
    )
      .flatMap((item) => Object.values(item))
      .flatMap((operation) => operation.parameters ?? []) as { name: string; schema: { enum?: string[] } }[]
    const departmentParameters = parameters.filter((parameter) => parameter.name === 'department')
    t.ok(departmentParameters.length > 5, 'every crew-call route names the department')
    for (const parameter of departmentParameters)
      t.same(parameter.schema.enum, ['rigging', 'sound'], 'the enum is what this service accepts')
  },
)
