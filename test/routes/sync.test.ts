import t from 'tap'
import { build } from '../helpers/build-app.ts'
import {
  crewCallUrl,
  crewWorld,
  ELEMENT,
  flexWrites,
  linesPerResource,
  putCrewCall,
  putTechnicians,
  replaceRoster,
  resourceId,
  roster,
  sync,
  technicianId,
} from '../helpers/crew.ts'
import { withClient } from '../helpers/database.ts'

t.test(
  'without Flex configured, a sync is refused for good (501, no Retry-After), the crew call says why',
  async (t) => {
    const { app } = await build(t)
    await putTechnicians(app, 1)
    await putCrewCall(app)
    t.equal((await replaceRoster(app, roster(1))).statusCode, 200)
    for (const url of [`${crewCallUrl()}/sync`, `${crewCallUrl()}/sync?dryRun=true`, '/v1/jobs/job-1/sync']) {
      const response = await app.inject({ method: 'POST', url })
      t.equal(response.statusCode, 501, `${url}: not a status that invites a retry`)
      t.notOk(response.headers['retry-after'], `${url}: no Retry-After`)
      t.match(response.json(), {
        type: 'urn:rostersync:problem:flex-not-configured',
        detail: /FLEX_BASE_URL and FLEX_AUTH_TOKEN/,
      })
    }
    const read = (await app.inject({ method: 'GET', url: crewCallUrl() })).json()
    t.match(
      read.sync,
      { state: 'not-configured', nextAttemptAt: null },
      'no promise of a run that never comes',
    )
    const list = (await app.inject({ method: 'GET', url: '/v1/jobs/job-1/crew-calls' })).json()
    t.match(list.crewCalls[0].sync, { state: 'not-configured', nextAttemptAt: null })
    const report = await app.inject({ method: 'GET', url: '/v1/admin/integrity' })
    t.equal(report.json().crewCallsBySyncState['not-configured'], 1, 'the integrity report counts it')
    const checkFlex = await app.inject({ method: 'GET', url: '/v1/admin/integrity?checkFlex=true' })
    t.equal(checkFlex.statusCode, 501)
    t.match(checkFlex.json(), { type: 'urn:rostersync:problem:flex-not-configured' })
  },
)

t.test('a sync adds every rostered technician once; the next sync changes nothing', async (t) => {
  const { app, flex } = await crewWorld(t, 10)
  await replaceRoster(app, roster(10))
  const first = await sync(app)
  t.equal(first.status, 200)
  t.match(first.body.run, { status: 'succeeded', removed: [], repaired: [], adopted: [], errors: [] })
  t.same(
    [...first.body.run.added].sort(),
    roster(10)
      .map((a) => a.technicianId)
      .sort(),
  )
  t.same([...linesPerResource(flex).values()], Array(10).fill(1), 'one line per technician')

  const assignments = (await app.inject({ method: 'GET', url: `${crewCallUrl()}/assignments` })).json()
    .assignments
  const recorded = new Set(assignments.map((a: { flexLineItemId: string }) => a.flexLineItemId))
  t.same(recorded, new Set(flex.lines(ELEMENT).map((line) => line.id)), 'each row records its line')

  const writesBefore = flexWrites(flex).length
  const second = await sync(app)
  t.match(second.body.run, {
    status: 'succeeded',
    added: [],
    removed: [],
    repaired: [],
    adopted: [],
    rolesSet: [],
  })
  t.equal(second.body.run.unchanged.length, 10)
  t.equal(flexWrites(flex).length, writesBefore, 'no Flex writes the second time')
})

t.test('a line deleted by hand in Flex is put back and reported as repaired', async (t) => {
  const { app, flex } = await crewWorld(t, 3)
  await replaceRoster(app, roster(3))
  await sync(app)
  const victim = flex.lines(ELEMENT).find((line) => line.resourceId === resourceId(1))
  flex.deleteLineByHand(victim?.id as string)
  const run = (await sync(app)).body.run
  t.same(run.repaired, [technicianId(1)])
  t.same(run.added, [])
  t.same([...linesPerResource(flex).values()], [1, 1, 1])
})

t.test('technicians taken off the roster lose their line; unknown contacts are left alone', async (t) => {
  const { app, flex } = await crewWorld(t, 4)
  await replaceRoster(app, roster(4))
  await sync(app)
  const stranger = flex.addLineByHand(ELEMENT, 'someone-else')
  const goneLines = flex.lines(ELEMENT).filter((l) => [resourceId(2), resourceId(3)].includes(l.resourceId))
  await replaceRoster(app, roster(2))
  const run = (await sync(app)).body.run
  t.same([...run.removed].sort(), goneLines.map((l) => l.id).sort())
  t.same(run.ignored, [stranger])
  t.same([...linesPerResource(flex).keys()].sort(), [resourceId(0), resourceId(1), 'someone-else'])
})

t.test('two lines for one technician (legacy damage) are reduced to one', async (t) => {
  const { app, flex } = await crewWorld(t, 2)
  const older = flex.addLineByHand(ELEMENT, resourceId(0))
  const newer = flex.addLineByHand(ELEMENT, resourceId(0))
  await replaceRoster(app, roster(2))
  const run = (await sync(app)).body.run
  t.same(run.adopted, [technicianId(0)], 'the existing line is adopted, not duplicated')
  t.same(run.removed, [newer])
  t.same(run.added, [technicianId(1)])
  t.same(linesPerResource(flex).get(resourceId(0)), 1)
  t.ok(flex.lines(ELEMENT).some((line) => line.id === older))
})

t.test('business roles follow the role code tier', async (t) => {
  const roles = { sound: { R: 'role-r', E: 'role-e' } }
  const { app, flex } = await crewWorld(t, 3, { env: { FLEX_BUSINESS_ROLES: JSON.stringify(roles) } })
  await replaceRoster(app, [
    { technicianId: technicianId(0), role: 'SND-FOH-R' },
    { technicianId: technicianId(1), role: 'SND-MON-E' },
    { technicianId: technicianId(2), role: 'SND-ST-T' },
  ])
  const first = (await sync(app)).body.run
  t.same([...first.rolesSet].sort(), [technicianId(0), technicianId(1)], 'no role configured for tier T')
  const byResource = new Map(flex.lines(ELEMENT).map((line) => [line.resourceId, line.businessRoleId]))
  t.same(Object.fromEntries(byResource), {
    [resourceId(0)]: 'role-r',
    [resourceId(1)]: 'role-e',
    [resourceId(2)]: null,
  })
  t.same((await sync(app)).body.run.rolesSet, [], 'roles already right')

  await app.inject({
    method: 'PUT',
    url: `${crewCallUrl()}/assignments/${technicianId(0)}`,
    payload: { role: 'SND-FOH-E' },
  })
  const third = (await sync(app)).body.run
  t.same(third.rolesSet, [technicianId(0)])
  t.equal(flex.lines(ELEMENT).find((l) => l.resourceId === resourceId(0))?.businessRoleId, 'role-e')
})

t.test('every role not set in Flex is a note naming the technician, the role code and why', async (t) => {
  const roles = { sound: { R: 'role-r' } }
  const { app, databaseUrl } = await crewWorld(t, 3, {
    env: {
      FLEX_BUSINESS_ROLES: JSON.stringify(roles),
      WEBHOOK_WORKER: 'off',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    },
  })
  // A subscriber, so that runs record their crew-sync.finished events (never delivered: no worker).
  const subscribed = await app.inject({
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: 'http://127.0.0.1:9/hooks', events: ['crew-sync.finished'] },
  })
  t.equal(subscribed.statusCode, 201, subscribed.body)
  await putCrewCall(app, 'lights', 'element-lights')
  await replaceRoster(app, [
    { technicianId: technicianId(0), role: 'SND-FOH-R' },
    { technicianId: technicianId(1), role: 'SND-MON-E' },
    { technicianId: technicianId(2), role: null },
  ])
  const first = (await sync(app)).body.run
  t.same(first.notes, [
    `technician ${technicianId(1)}, role SND-MON-E: no business role set on the new line: FLEX_BUSINESS_ROLES ` +
      'has no business role id for tier E of department sound (only R)',
  ])
  const second = (await sync(app)).body.run
  t.same(
    second.notes,
    [
      `technician ${technicianId(1)}, role SND-MON-E: the business role on its line left as it was: ` +
        'FLEX_BUSINESS_ROLES has no business role id for tier E of department sound (only R)',
    ],
    'a line kept is noted too, at every run',
  )
  await replaceRoster(app, [{ technicianId: technicianId(0), role: 'LX-OP-R' }], 'lights')
  const lights = (await sync(app, 'lights')).body.run
  t.same(lights.notes, [
    `technician ${technicianId(0)}, role LX-OP-R: no business role set on the new line: FLEX_BUSINESS_ROLES ` +
      'has no business role ids for department lights',
  ])
  const runs = (await app.inject({ method: 'GET', url: '/v1/sync-runs?limit=1' })).json()
  t.same(runs.runs[0].notes, lights.notes, 'the history keeps the notes')
  const events = await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query(
      `SELECT data FROM webhook_events WHERE type = 'crew-sync.finished' AND data ->> 'runId' = $1`,
      [lights.id],
    )
    return rows as { data: { notes: string[] } }[]
  })
  t.same(events[0]?.data.notes, lights.notes, 'the crew-sync.finished event carries them')
})

t.test('a dry run returns the plan and changes nothing', async (t) => {
  const { app, flex } = await crewWorld(t, 3)
  flex.addLineByHand(ELEMENT, resourceId(2))
  await replaceRoster(app, roster(3))
  const response = await sync(app, 'sound', '?dryRun=true')
  t.equal(response.status, 200)
  t.same(response.body.plan, {
    add: [technicianId(0), technicianId(1)],
    repair: [],
    adopt: [technicianId(2)],
    remove: [],
    setRole: [],
    unchanged: [],
    ignored: [],
  })
  t.same(flexWrites(flex), [], 'no Flex writes')
  const history = (await app.inject({ method: 'GET', url: '/v1/sync-runs' })).json()
  t.same(history.runs, [], 'no run recorded')
})

t.test('a job sync runs every department and the history pages newest first', async (t) => {
  const { app } = await crewWorld(t, 2)
  await putCrewCall(app, 'lights', 'element-lights')
  await replaceRoster(app, roster(1))
  await replaceRoster(app, roster(2), 'lights')
  const job = await app.inject({ method: 'POST', url: '/v1/jobs/job-1/sync' })
  t.equal(job.statusCode, 200)
  t.same(
    job.json().runs.map((r: { department: string }) => r.department),
    ['lights', 'sound'],
  )
  await sync(app)
  await sync(app, 'lights')

  const page1 = (await app.inject({ method: 'GET', url: '/v1/sync-runs?limit=3' })).json()
  t.equal(page1.runs.length, 3)
  const page2 = (
    await app.inject({ method: 'GET', url: `/v1/sync-runs?limit=3&cursor=${page1.nextCursor}` })
  ).json()
  t.equal(page2.runs.length, 1)
  t.equal(page2.nextCursor, null)
  const all = [...page1.runs, ...page2.runs]
  t.same(
    all.map((r: { startedAt: string }) => r.startedAt),
    all
      .map((r: { startedAt: string }) => r.startedAt)
      .sort()
      .reverse(),
    'newest first',
  )
  t.equal(new Set(all.map((r: { id: string }) => r.id)).size, 4, 'no run twice')
  const lights = (await app.inject({ method: 'GET', url: '/v1/sync-runs?department=lights' })).json()
  t.equal(lights.runs.length, 2)
  const bad = await app.inject({ method: 'GET', url: '/v1/sync-runs?cursor=bogus' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().errors[0].pointer, '/cursor')
  const unknownJob = await app.inject({ method: 'POST', url: '/v1/jobs/no-such-job/sync' })
  t.equal(unknownJob.statusCode, 404)
})
