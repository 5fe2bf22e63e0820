import t, { type Test } from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import {
  type CrewWorld,
  crewCallUrl,
  crewWorld,
  ELEMENT,
  linesPerResource,
  putCrewCall,
  replaceRoster,
  resourceId,
  roster,
  technicianId,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'
import { startServer } from '../../helpers/server-process.ts'
import { waitFor } from '../../helpers/wait.ts'

/**
 * Crew converges without anyone asking: no test here calls POST .../sync. Workers run in the app
 * (SYNC_WORKER=on) with short timings so that debounce, backoff, give-up and drift repair happen
 * within a test.
 */

const FAST = {
  SYNC_WORKER: 'on',
  SYNC_POLL_MS: '20',
  SYNC_DEBOUNCE_MS: '100',
  SYNC_RETRY_BASE_MS: '50',
  SYNC_RETRY_MAX_MS: '400',
  SYNC_LEASE_MS: '1500',
  SYNC_RESYNC_INTERVAL_MS: '0',
  FLEX_TIMEOUT_MS: '400',
  FLEX_ADD_DOUBT_MS: '1200',
  FLEX_MAX_ATTEMPTS: '1',
}

async function autonomousWorld(t: Test, technicians: number, env: Record<string, string> = {}) {
  return crewWorld(t, technicians, { env: { ...FAST, ...env } })
}

interface SyncRun {
  id: string
  trigger: string
  status: string
  startedAt: string
  finishedAt: string | null
  crewCallId: string
}

async function runs(app: CrewWorld['app'], query = ''): Promise<SyncRun[]> {
  const all: SyncRun[] = []
  let cursor: string | null = null
  do {
    const page: { runs: SyncRun[]; nextCursor: string | null } = (
      await injectAs(app, 'service', {
        method: 'GET',
        url: `/v1/sync-runs?limit=100${query}${cursor ? `&cursor=${cursor}` : ''}`,
      })
    ).json()
    all.push(...page.runs)
    cursor = page.nextCursor
  } while (cursor)
  return all
}

const syncState = async (app: CrewWorld['app'], department = 'sound') =>
  (await injectAs(app, 'service', { method: 'GET', url: crewCallUrl(department) })).json().sync

/** Waits until the crew call is in sync and Flex holds exactly `expected` resources, one line each. */
async function converged(w: CrewWorld, expected: string[], timeoutMs = 15_000) {
  await waitFor(
    `Flex to hold exactly ${expected.length} lines and the crew call to be in sync`,
    async () => {
      const lines = linesPerResource(w.flex)
      const exact =
        lines.size === expected.length &&
        expected.every((resource) => lines.get(resource) === 1) &&
        (await syncState(w.app)).state === 'in-sync'
      return exact || undefined
    },
    { timeoutMs },
  )
}

const resources = (count: number, from = 0) => Array.from({ length: count }, (_, i) => resourceId(from + i))

t.test('a roster PUT with no sync call ends with Flex holding exactly the roster', async (t) => {
  const w = await autonomousWorld(t, 6)
  t.equal((await replaceRoster(w.app, roster(5))).statusCode, 200)
  await converged(w, resources(5))
  await replaceRoster(w.app, roster(6).slice(3))
  await converged(w, resources(3, 3))
  const all = await runs(w.app)
  t.ok(all.length >= 2)
  t.ok(
    all.every((run) => run.trigger === 'change'),
    'every run was started by a change',
  )
  const sync = await syncState(w.app)
  t.match(sync, { state: 'in-sync', attempts: 0, lastError: null, nextAttemptAt: null })
  t.equal(sync.syncedVersion, sync.rosterVersion)
  t.same(w.flex.duplicateAdds, [])
  const changeRuns = await runs(w.app, '&trigger=change')
  t.equal(changeRuns.length, all.length, 'sync-runs filter by trigger')
})

t.test('a roster change on this instance wakes its idle worker when the reconcile falls due', async (t) => {
  // The worker polls once a minute: only the wake a roster change sends makes it look sooner.
  const w = await autonomousWorld(t, 3, { SYNC_POLL_MS: '60000' })
  t.equal((await replaceRoster(w.app, roster(3))).statusCode, 200)
  await converged(w, resources(3), 10_000)
  const [run] = await runs(w.app)
  t.equal(run?.trigger, 'change', 'the change started the run')
})

t.test(
  '30% Flex 5xx and lost add answers converge with no client action and no double booking',
  async (t) => {
    const w = await autonomousWorld(t, 12)
    let seed = 7
    const random = () => {
      seed = (seed * 16807) % 2147483647
      return seed / 2147483647
    }
    w.flex.setFlakiness({ errorRate: 0.3, loseAddRate: 0.2, random })
    await replaceRoster(w.app, roster(12))
    await waitFor(
      'every technician to have a line',
      () => linesPerResource(w.flex).size === 12 || undefined,
      {
        timeoutMs: 30_000,
      },
    )
    w.flex.clearFaults()
    await converged(w, resources(12), 30_000)
    t.same(w.flex.duplicateAdds, [], 'Flex never received an add for a technician who had a line')
    const all = await runs(w.app)
    t.ok(
      all.some((run) => run.trigger === 'retry'),
      'unsuccessful runs were retried',
    )
    t.ok(
      all.some((run) => run.status !== 'succeeded'),
      'the faults did make runs fail',
    )
  },
)

t.test('a burst of 20 roster changes yields a handful of runs, and the last roster wins', async (t) => {
  const w = await autonomousWorld(t, 25, { SYNC_DEBOUNCE_MS: '300' })
  for (let i = 0; i < 20; i++) {
    const response = await replaceRoster(w.app, roster(25).slice(i, i + 5))
    t.equal(response.statusCode, 200)
  }
  await converged(w, resources(5, 19))
  const all = await runs(w.app)
  t.ok(all.length <= 4, `${all.length} runs for 20 changes`)
  t.same(w.flex.duplicateAdds, [])
})

t.test('a change that lands while a run is in flight leads to exactly one more run', async (t) => {
  const w = await autonomousWorld(t, 4)
  w.flex.latencyMs = 150
  await replaceRoster(w.app, roster(2))
  await waitFor('a run to start', async () => (await syncState(w.app)).state === 'running' || undefined)
  await replaceRoster(w.app, roster(4))
  await converged(w, resources(4))
  const all = await runs(w.app)
  t.equal(all.length, 2, 'the run in flight, then one for the change')
})

t.test('a line deleted by hand in Flex is repaired by the resync', async (t) => {
  const w = await autonomousWorld(t, 3, { SYNC_RESYNC_INTERVAL_MS: '600' })
  await replaceRoster(w.app, roster(3))
  await converged(w, resources(3))
  const [gone] = w.flex.lines(ELEMENT)
  w.flex.deleteLineByHand(gone?.id ?? '')
  await waitFor('the resync to put the line back', () => linesPerResource(w.flex).size === 3 || undefined)
  await converged(w, resources(3))
  const resyncs = await runs(w.app, '&trigger=resync')
  t.ok(resyncs.length >= 1)
  t.ok(
    resyncs.some((run) => run.status === 'succeeded'),
    'a resync repaired it',
  )
  t.same(w.flex.duplicateAdds, [])
})

t.test(
  'SYNC_MAX_ATTEMPTS failures give failed; a change re-arms it, and so does a manual sync',
  async (t) => {
    const w = await autonomousWorld(t, 3, { SYNC_MAX_ATTEMPTS: '3' })
    w.flex.fail('list', { status: 500, times: 1_000 })
    await replaceRoster(w.app, roster(2))
    await waitFor(
      'the crew call to give up',
      async () => (await syncState(w.app)).state === 'failed' || undefined,
    )
    const failed = await syncState(w.app)
    t.match(failed, { state: 'failed', attempts: 3, lastError: /HTTP 500/, nextAttemptAt: null })
    const runsWhenFailed = (await runs(w.app)).length
    t.equal(runsWhenFailed, 3)
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.equal((await runs(w.app)).length, 3, 'no automatic run after giving up')

    const integrity = (await injectAs(w.app, 'service', { method: 'GET', url: '/v1/admin/integrity' })).json()
    t.match(integrity.crewCallsBySyncState, { failed: 1 })
    t.ok(integrity.oldestPendingChangeSeconds >= 0)
    const metrics = (await injectAs(w.app, 'service', { method: 'GET', url: '/metrics' })).body
    t.match(metrics, /rostersync_crew_calls\{state="failed"\} 1/)

    w.flex.clearFaults()
    await replaceRoster(w.app, roster(3))
    await converged(w, resources(3))
    t.equal((await syncState(w.app)).attempts, 0)

    w.flex.fail('list', { status: 500, times: 1_000 })
    await replaceRoster(w.app, roster(1))
    await waitFor(
      'the crew call to give up again',
      async () => (await syncState(w.app)).state === 'failed' || undefined,
    )
    w.flex.clearFaults()
    const manual = await injectAs(w.app, 'service', { method: 'POST', url: `${crewCallUrl()}/sync` })
    t.equal(manual.json().run.status, 'succeeded', 'a manual sync re-arms it and runs')
    t.equal(manual.json().run.trigger, 'manual')
    await converged(w, resources(1))
  },
)

t.test('two instances with workers: one run at a time per crew call, one line per technician', async (t) => {
  const a = await autonomousWorld(t, 9)
  const b = await build(t, {
    databaseUrl: a.databaseUrl,
    env: { ...FAST, FLEX_BASE_URL: a.flex.url, FLEX_AUTH_TOKEN: a.flex.token },
  })
  a.flex.latencyMs = 20
  await putCrewCall(a.app, 'lights', 'element-lights')
  await putCrewCall(b.app, 'video', 'element-video')
  const three = (first: number) =>
    Array.from({ length: 3 }, (_, i) => ({ technicianId: technicianId(first + i) }))
  for (let round = 0; round < 3; round++) {
    await Promise.all([
      replaceRoster(a.app, three(round % 2 === 0 ? 0 : 1), 'sound'),
      replaceRoster(b.app, three(3 + (round % 2)), 'lights'),
      replaceRoster(round % 2 === 0 ? a.app : b.app, three(6), 'video'),
    ])
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await waitFor('every crew call in sync', async () => {
    const states = await Promise.all(['sound', 'lights', 'video'].map((d) => syncState(a.app, d)))
    return states.every((s) => s.state === 'in-sync') || undefined
  })
  t.same(
    ['element-1', 'element-lights', 'element-video'].map((el) => a.flex.lines(el).length),
    [3, 3, 3],
  )
  t.same(a.flex.duplicateAdds, [])
  const byCrewCall = new Map<string, SyncRun[]>()
  for (const run of await runs(a.app))
    byCrewCall.set(run.crewCallId, [...(byCrewCall.get(run.crewCallId) ?? []), run])
  for (const [crewCallId, list] of byCrewCall) {
    const sorted = list.sort((x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt))
    for (let i = 1; i < sorted.length; i++) {
      t.ok(
        Date.parse(sorted[i]?.startedAt ?? '') >= Date.parse(sorted[i - 1]?.finishedAt ?? ''),
        `${crewCallId}: runs never overlap`,
      )
    }
  }
})

/**
 * A worker in a process of its own takes the roster of three to Flex and is killed (SIGKILL) while an
 * add is on its way (the test's Flex holds one back); an instance with a worker then starts on the same
 * database and Flex. Returns that add and the instance. `flexTimeoutMs`: the killed worker's add timeout,
 * longer than the test takes to kill it.
 */
async function killedMidAdd(t: Test, w: CrewWorld, flexTimeoutMs: number) {
  const server = await startServer(t, {
    DATABASE_URL: w.databaseUrl,
    AUTH_SERVICE_KEYS: `test:${'k'.repeat(20)}`,
    LOG_LEVEL: 'warn',
    FLEX_BASE_URL: w.flex.url,
    FLEX_AUTH_TOKEN: w.flex.token,
    ...FAST,
    FLEX_TIMEOUT_MS: String(flexTimeoutMs),
  })
  await server.ready()
  await replaceRoster(w.app, roster(3))
  const inFlight = await waitFor('the worker to be mid-run (an add on its way)', () =>
    w.flex.calls.find((call) => call.endpoint === 'add' && call.endedAt === null),
  )
  // Killed before the add's answer: the run never learns its outcome, nor records a doubt after it.
  server.kill('SIGKILL')
  await server.exitCode()
  const next = await build(t, {
    databaseUrl: w.databaseUrl,
    // Runs held back by the killed run's adds in doubt are retried, not given up.
    env: { ...FAST, SYNC_MAX_ATTEMPTS: '1000', FLEX_BASE_URL: w.flex.url, FLEX_AUTH_TOKEN: w.flex.token },
  })
  return { inFlight, app: next.app }
}

t.test('a worker killed (SIGKILL) mid-run is taken over after its lease', async (t) => {
  const w = await autonomousWorld(t, 3, { SYNC_WORKER: 'off' })
  w.flex.hang('add', 1)
  // The run that takes over adds the hung add's technician once that add can no longer land: 3 s (its
  // timeout) and FLEX_ADD_DOUBT_MS after it went out.
  const b = await killedMidAdd(t, w, 3_000)
  await converged({ ...w, app: b.app }, resources(3))
  t.same(w.flex.duplicateAdds, [])
  const all = await runs(b.app)
  t.match(
    all.find((run) => run.status === 'failed'),
    { trigger: 'change' },
    'the killed run was closed as abandoned',
  )
  const statuses = await withClient(w.databaseUrl, async (client) => {
    const { rows } = await client.query<{ status: string }>(
      `SELECT status FROM sync_runs WHERE status = 'running'`,
    )
    return rows
  })
  t.same(statuses, [], 'no run left running')
})

t.test(
  'an add still on its way when its worker is killed: the run that takes over does not add it again, and adopts its line once it lands',
  async (t) => {
    // After the lease (1.5 s) has passed to the next run, and within the killed run's add timeout and
    // FLEX_ADD_DOUBT_MS (4 s + 1.2 s), the longest an add may take to land.
    const LANDS_AFTER_MS = 3_000
    const w = await autonomousWorld(t, 3, { SYNC_WORKER: 'off' })
    // Flex takes one add and creates its line only after LANDS_AFTER_MS, however the caller fares.
    w.flex.landAddLate(LANDS_AFTER_MS)
    const { inFlight: late, app } = await killedMidAdd(t, w, 4_000)
    await converged({ ...w, app }, resources(3))
    t.same(w.flex.duplicateAdds, [], 'no add of a resource whose line was still on its way')
    const sameAdd = (call: (typeof w.flex.calls)[number]) =>
      call.endpoint === 'add' &&
      call.path === late.path &&
      JSON.stringify(call.body) === JSON.stringify(late.body)
    t.equal(
      w.flex.calls.filter(sameAdd).length,
      1,
      'the late add was the only add of its resource: its line was adopted',
    )
  },
)

t.test('npm run worker: workers without the HTTP server, stopped cleanly by SIGTERM', async (t) => {
  const w = await autonomousWorld(t, 3, { SYNC_WORKER: 'off' })
  const worker = await startServer(
    t,
    {
      DATABASE_URL: w.databaseUrl,
      AUTH_SERVICE_KEYS: `test:${'k'.repeat(20)}`,
      FLEX_BASE_URL: w.flex.url,
      FLEX_AUTH_TOKEN: w.flex.token,
      ...FAST,
      SYNC_WORKER: 'off', // --worker turns it on
      SHUTDOWN_DRAIN_MS: '60000', // nothing listens, so nothing to drain: the worker does not wait for it
    },
    { args: ['--worker'] },
  )
  await replaceRoster(w.app, roster(3))
  await converged(w, resources(3), 30_000)
  t.notOk(await worker.listening(), 'no HTTP server')
  worker.kill('SIGTERM')
  t.equal(await worker.exitCode(15_000), 0, 'exits 0 without waiting for SHUTDOWN_DRAIN_MS')
  t.match(worker.output(), /reconcile workers running \(no HTTP server\)[\s\S]*shutdown complete/)
})

t.test('npm run worker refuses to start without Flex', async (t) => {
  const w = await autonomousWorld(t, 0, { SYNC_WORKER: 'off' })
  const worker = await startServer(
    t,
    { DATABASE_URL: w.databaseUrl, AUTH_SERVICE_KEYS: `test:${'k'.repeat(20)}` },
    { args: ['--worker'] },
  )
  t.equal(await worker.exitCode(), 1)
  t.match(worker.output(), /npm run worker needs Flex: set FLEX_BASE_URL and FLEX_AUTH_TOKEN/)
})
