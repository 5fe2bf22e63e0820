import t from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import {
  crewCallUrl,
  crewWorld,
  ELEMENT,
  linesPerResource,
  putCrewCall,
  replaceRoster,
  roster,
  sync,
  technicianId,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'
import { failOn } from '../../helpers/db-faults.ts'

/** Flex's call limits as one budget for every instance: a sync that does not fit changes nothing. */

const budgetEnv = (perHour: number, perDay = 10_000) => ({
  FLEX_CALLS_PER_HOUR: String(perHour),
  FLEX_CALLS_PER_DAY: String(perDay),
})

const reservedCalls = (databaseUrl: string) =>
  withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ calls: number }>(
      'SELECT coalesce(sum(calls), 0)::int AS calls FROM flex_call_reservations',
    )
    return rows[0]?.calls ?? 0
  })

t.test('a converged sync costs one call; the run records the calls it made', async (t) => {
  const { app, databaseUrl } = await crewWorld(t, 3, { env: budgetEnv(100) })
  await replaceRoster(app, roster(3))
  const first = (await sync(app)).body.run
  t.equal(first.flexCalls, 4, 'one list, three adds')
  const second = (await sync(app)).body.run
  t.equal(second.flexCalls, 1, 'one list')
  t.equal(await reservedCalls(databaseUrl), 5, 'the budget holds what was really spent')
})

t.test('a plan the budget cannot cover is deferred and changes nothing', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 6, { env: budgetEnv(7) })
  await replaceRoster(app, roster(3))
  t.equal((await sync(app)).body.run.status, 'succeeded', '4 calls of 7')
  await replaceRoster(app, roster(6))
  const linesBefore = flex.lines(ELEMENT)
  const assignmentsBefore = (
    await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })
  ).json()

  const run = (await sync(app)).body.run
  t.equal(run.status, 'deferred', 'the list fits (5 of 7), three adds do not')
  t.match(run.errors, [{ operation: 'budget', message: /cannot cover the 4 calls this sync needs/ }])
  t.equal(run.flexCalls, 1)
  const retryIn = Date.parse(run.retryAt) - Date.now()
  t.ok(retryIn > 59 * 60_000 && retryIn <= 60 * 60_000, 'when the first sync leaves the hour window')
  t.same(flex.lines(ELEMENT), linesBefore, 'Flex unchanged')
  t.same(
    (await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })).json(),
    assignmentsBefore,
    'database unchanged',
  )
  t.equal(await reservedCalls(databaseUrl), 5)

  const deferred = (
    await injectAs(app, 'service', { method: 'GET', url: '/v1/sync-runs?status=deferred' })
  ).json()
  t.same(
    deferred.runs.map((r: { id: string }) => r.id),
    [run.id],
  )
  t.equal((await sync(app, 'sound', '?dryRun=true')).status, 200, 'a dry run is one list: 6 of 7')
  t.equal((await sync(app, 'sound', '?dryRun=true')).status, 200, '7 of 7')
  const refused = await injectAs(app, 'service', { method: 'POST', url: `${crewCallUrl()}/sync?dryRun=true` })
  t.equal(refused.statusCode, 503, 'the budget is spent')
  t.match(refused.json(), { detail: /Flex call budget cannot cover/ })
  t.ok(Number(refused.headers['retry-after']) > 59 * 60, 'Retry-After: when the first sync leaves the window')
})

t.test('a sync bigger than the whole hourly limit fails and says what to change', async (t) => {
  const { app, flex } = await crewWorld(t, 6, { env: budgetEnv(5) })
  await replaceRoster(app, roster(6))
  const run = (await sync(app)).body.run
  t.equal(run.status, 'failed')
  t.equal(run.retryAt, null)
  t.match(run.errors, [{ operation: 'budget', message: /needs 7 Flex calls, more than FLEX_CALLS_PER_HOUR/ }])
  t.same(flex.lines(ELEMENT), [])
})

t.test('a budget spent to its last call defers the next sync before it calls Flex', async (t) => {
  const { app, flex } = await crewWorld(t, 2, { env: budgetEnv(3) })
  await replaceRoster(app, roster(2))
  t.equal((await sync(app)).body.run.status, 'succeeded', '3 calls of 3')
  const callsBefore = flex.calls.length
  const run = (await sync(app)).body.run
  t.equal(run.status, 'deferred')
  t.equal(run.flexCalls, 0)
  t.equal(flex.calls.length, callsBefore, 'Flex was not called at all')
})

t.test('every instance draws from one budget; concurrent syncs never overspend it', async (t) => {
  const a = await crewWorld(t, 9, { env: budgetEnv(8) })
  const env = { FLEX_BASE_URL: a.flex.url, FLEX_AUTH_TOKEN: a.flex.token, ...budgetEnv(8) }
  const b = await build(t, { databaseUrl: a.databaseUrl, env })
  await putCrewCall(a.app, 'lights', 'element-lights')
  await putCrewCall(a.app, 'video', 'element-video')
  const threeEach = (first: number) =>
    Array.from({ length: 3 }, (_, i) => ({ technicianId: technicianId(first + i) }))
  await replaceRoster(a.app, threeEach(0), 'sound')
  await replaceRoster(a.app, threeEach(3), 'lights')
  await replaceRoster(a.app, threeEach(6), 'video')

  // Each sync needs 4 calls (a list, three adds); 8 cannot cover all three, in any interleaving.
  const runs = await Promise.all([sync(a.app, 'sound'), sync(b.app, 'lights'), sync(b.app, 'video')])
  const statuses = runs.map((r) => r.body.run.status)
  t.ok(statuses.includes('succeeded') && statuses.includes('deferred'), statuses.join(', '))
  t.same(
    statuses.filter((s) => s !== 'succeeded' && s !== 'deferred'),
    [],
  )
  t.ok((await reservedCalls(a.databaseUrl)) <= 8, 'never more than the limit')
  for (const [i, element] of ['element-1', 'element-lights', 'element-video'].entries()) {
    const expected = statuses[i] === 'succeeded' ? 3 : 0
    t.equal(a.flex.lines(element).length, expected, `${element}: all or nothing`)
  }
  t.same(a.flex.duplicateAdds, [])
  t.ok([...linesPerResource(a.flex).values()].every((n) => n === 1))

  const metrics = await injectAs(b.app, 'service', { method: 'GET', url: '/metrics' })
  t.match(metrics.body, /rostersync_flex_budget_calls\{window="hour",state="used"\} [1-8]\n/)
  t.match(metrics.body, /rostersync_flex_budget_calls\{window="day",state="left"\} \d+\n/)
})

t.test('a budget that cannot be read fails the run, recorded, and calls Flex not at all', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 2, { env: budgetEnv(100) })
  await replaceRoster(app, roster(2))
  const removeFault = await failOn(databaseUrl, { table: 'flex_call_reservations', on: 'INSERT' })
  const run = (await sync(app)).body.run
  t.equal(run.status, 'failed')
  t.match(run.errors, [{ operation: 'run', message: /injected failure on flex_call_reservations/ }])
  t.equal(flex.calls.length, 0)
  const running = (
    await injectAs(app, 'service', { method: 'GET', url: '/v1/sync-runs?status=running' })
  ).json()
  t.same(running.runs, [], 'no run left running')
  await removeFault()
  t.equal((await sync(app)).body.run.status, 'succeeded')
})
