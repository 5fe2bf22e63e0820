import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import {
  crewCallUrl,
  crewWorld,
  ELEMENT,
  linesPerResource,
  replaceRoster,
  roster,
  technicianId,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'

const duplicateAssignments = (databaseUrl: string) =>
  withClient(databaseUrl, async (c) => {
    const { rows } = await c.query(`
      SELECT (SELECT count(*) FROM (SELECT 1 FROM crew_assignments GROUP BY crew_call_id, technician_id HAVING count(*) > 1) a)
           + (SELECT count(*) FROM (SELECT 1 FROM crew_assignments WHERE flex_line_item_id IS NOT NULL
                                     GROUP BY flex_line_item_id HAVING count(*) > 1) b) AS n`)
    return Number(rows[0].n)
  })

t.test('20 concurrent syncs of one crew call from two instances: one line per technician', async (t) => {
  const first = await crewWorld(t, 10)
  first.flex.latencyMs = 5 // widens every race window
  const second = await crewWorld(t, 0, {
    databaseUrl: first.databaseUrl,
    env: { FLEX_BASE_URL: first.flex.url, FLEX_AUTH_TOKEN: first.flex.token },
  })
  await replaceRoster(first.app, roster(10))
  const apps = [first.app, second.app]
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      injectAs(apps[i % 2] as FastifyInstance, 'service', { method: 'POST', url: `${crewCallUrl()}/sync` }),
    ),
  )
  t.same(
    responses.map((r) => r.statusCode).filter((s) => s !== 200),
    [],
    'every request waited its turn',
  )
  t.same(
    [...linesPerResource(first.flex).values()],
    Array(10).fill(1),
    'exactly 10 lines, one per technician',
  )
  t.equal(first.flex.lines(ELEMENT).length, 10)
  t.equal(await duplicateAssignments(first.databaseUrl), 0, 'no duplicate rows')
  const added = responses.flatMap((r) => r.json().run.added)
  t.equal(added.length, 10, 'each technician added by exactly one run')
  t.equal(first.flex.maxInFlight <= 32, true, 'Flex calls in flight stay bounded')
})

t.test('a crashed holder blocks the next sync only until its lease expires', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 2, { env: { SYNC_LEASE_MS: '500' } })
  await replaceRoster(app, roster(2))
  const crewCallId = (await injectAs(app, 'service', { method: 'GET', url: crewCallUrl() })).json().id
  await withClient(databaseUrl, (c) =>
    c.query(
      `UPDATE crew_calls SET sync_lease_owner = 'crashed-instance', sync_lease_until = now() + interval '400 milliseconds'
        WHERE id = $1;
       INSERT INTO sync_runs (crew_call_id, trigger) VALUES ($1, 'manual');`.replaceAll(
        '$1',
        `'${crewCallId}'`,
      ),
    ),
  )
  const response = await injectAs(app, 'service', { method: 'POST', url: `${crewCallUrl()}/sync` })
  t.equal(response.statusCode, 200)
  t.equal(response.json().run.status, 'succeeded')
  t.equal(flex.lines(ELEMENT).length, 2)
  const runs = (await injectAs(app, 'service', { method: 'GET', url: '/v1/sync-runs' })).json().runs
  const abandoned = runs.find((r: { id: string }) => r.id !== response.json().run.id)
  t.match(abandoned, { status: 'failed', errors: [{ operation: 'run', message: /abandoned/ }] })
  t.same(
    runs.filter((r: { status: string }) => r.status === 'running'),
    [],
    'no run left running',
  )
})

t.test('a sync waits a bounded time for a running one, then answers 409 with Retry-After', async (t) => {
  const { app, databaseUrl } = await crewWorld(t, 1, { env: { SYNC_WAIT_MS: '150' } })
  await withClient(databaseUrl, (c) =>
    c.query(
      `UPDATE crew_calls SET sync_lease_owner = 'busy', sync_lease_until = now() + interval '1 minute'`,
    ),
  )
  const response = await injectAs(app, 'service', { method: 'POST', url: `${crewCallUrl()}/sync` })
  t.equal(response.statusCode, 409)
  t.ok(Number(response.headers['retry-after']) >= 1)
  t.match(response.json(), { type: 'urn:rostersync:problem:conflict', detail: /already running/ })
})

t.test('concurrent roster replaces behave like calendar replaces', async (t) => {
  const first = await crewWorld(t, 12)
  const second = await crewWorld(t, 0, { databaseUrl: first.databaseUrl })
  const sets = Array.from({ length: 20 }, (_, i) => [
    { technicianId: technicianId(0), role: `SND-A${i}-R` },
    { technicianId: technicianId(1 + (i % 11)) },
  ])
  const results = await Promise.all(sets.map((set, i) => replaceRoster(i % 2 ? second.app : first.app, set)))
  t.same(
    results.map((r) => r.statusCode).filter((s) => s !== 200),
    [],
    'all succeed',
  )
  const final = (
    await injectAs(first.app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })
  ).json()
  const signature = (set: { technicianId: string; role?: string | null }[]) =>
    JSON.stringify(set.map((a) => [a.technicianId, a.role ?? null]).sort())
  const matching = sets.filter((set) => signature(set) === signature(final.assignments))
  t.equal(matching.length, 1, 'the final roster is exactly one of the sent rosters')
  const changing = results.filter((r) => {
    const { created, updated, deleted } = r.json().changes
    return created + updated + deleted > 0
  })
  t.equal(final.version, changing.length, 'the version counts the changing requests')
  t.equal(await duplicateAssignments(first.databaseUrl), 0)
})
