import t, { type Test } from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import {
  type CrewWorld,
  crewCallUrl,
  crewWorld,
  FAST_SYNC_WORKER,
  linesPerResource,
  putCrewCall,
  replaceRoster,
  roster,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'
import { startServer } from '../../helpers/server-process.ts'
import { waitFor } from '../../helpers/wait.ts'

/**
 * A crew call whose sync kills its worker is quarantined (issue 29): its run is lost twice (SIGKILL
 * while the run waits on Flex, as an out-of-memory abort would end it), and the third instance to
 * claim it closes the lost run, quarantines the crew call instead of running it, and stays up
 * syncing the others. No test here asks for a sync but the one that re-arms.
 */

const POISON = 'element-poison'

const syncOf = async (w: CrewWorld, department: string) =>
  (await injectAs(w.app, 'service', { method: 'GET', url: crewCallUrl(department) })).json().sync

/** /metrics is off without a token (issue 23): the servers get one and the scrape sends it. */
const METRICS_TOKEN = 'metrics-token-for-the-quarantine-test'

function serverEnv(w: CrewWorld): Record<string, string> {
  return {
    DATABASE_URL: w.databaseUrl,
    METRICS_TOKEN,
    AUTH_SERVICE_KEYS: `test:${'k'.repeat(20)}`,
    LOG_LEVEL: 'warn',
    FLEX_BASE_URL: w.flex.url,
    FLEX_AUTH_TOKEN: w.flex.token,
    ...FAST_SYNC_WORKER,
    SYNC_LEASE_MS: '1000',
    FLEX_TIMEOUT_MS: '60000',
    FLEX_MAX_ATTEMPTS: '1',
  }
}

const poisonLists = (w: CrewWorld) => w.flex.calls.filter((call) => call.path.includes(`/${POISON}/`))

/** Starts an instance and SIGKILLs it as soon as its run of the poison crew call is waiting on Flex. */
async function killedMidRun(t: Test, w: CrewWorld, runNumber: number): Promise<void> {
  const server = await startServer(t, serverEnv(w))
  await waitFor(
    `run ${runNumber} of the poison crew call to be waiting on Flex`,
    () => poisonLists(w).filter((call) => call.endedAt === null).length === 1 || undefined,
    { timeoutMs: 30_000 },
  )
  server.kill('SIGKILL')
  await server.exitCode()
  t.equal(poisonLists(w).length, runNumber, `run ${runNumber} was killed mid-run`)
}

t.test('a crew call whose run is killed twice is quarantined; other instances stay up', async (t) => {
  const w = await crewWorld(t, 4)
  // The sound crew call in sync first, so the killed instances run only the poison one: a run of it
  // in flight when its process dies would be lost too, and counted.
  t.equal(
    (await injectAs(w.app, 'service', { method: 'POST', url: `${crewCallUrl('sound')}/sync` })).statusCode,
    200,
  )
  await putCrewCall(w.app, 'lights', POISON)
  w.flex.breakElement(POISON, 'hang')
  t.equal((await replaceRoster(w.app, roster(2), 'lights')).statusCode, 200)

  await killedMidRun(t, w, 1)
  await killedMidRun(t, w, 2)

  const survivor = await startServer(t, serverEnv(w))
  await survivor.ready()
  await waitFor(
    'the poison crew call to be quarantined',
    async () => (await syncOf(w, 'lights')).state === 'failed' || undefined,
    {
      timeoutMs: 15_000,
    },
  )
  const quarantined = await syncOf(w, 'lights')
  t.match(quarantined, {
    state: 'failed',
    lostRuns: 2,
    nextAttemptAt: null,
    lastError:
      /^its sync ended the process twice: quarantined, no automatic run until a roster change or a manual sync re-arms it/,
  })

  // The survivor syncs the others, and never claims the poison crew call again.
  t.equal((await replaceRoster(w.app, roster(3), 'sound')).statusCode, 200)
  await waitFor(
    'the sound crew call to be in sync',
    async () =>
      ((await syncOf(w, 'sound')).state === 'in-sync' && linesPerResource(w.flex).size === 3) || undefined,
    { timeoutMs: 15_000 },
  )
  await new Promise((resolve) => setTimeout(resolve, 1_500)) // more than a lease, many polls
  t.equal(poisonLists(w).length, 2, 'no third run of the poison crew call')
  t.ok(survivor.running(), 'the instance that found it stays up')

  const runs = await withClient(w.databaseUrl, async (client) => {
    const { rows } = await client.query<{ status: string; message: string }>(
      `SELECT r.status, r.errors -> -1 ->> 'message' AS message FROM sync_runs r
         JOIN crew_calls cc ON cc.id = r.crew_call_id WHERE cc.flex_element_id = $1 ORDER BY r.started_at`,
      [POISON],
    )
    return rows
  })
  t.match(runs, [
    { status: 'failed', message: /^lost: the process running it ended before it finished/ },
    { status: 'failed', message: /^its sync ended the process twice/ },
  ])

  const integrity = (await injectAs(w.app, 'service', { method: 'GET', url: '/v1/admin/integrity' })).json()
  t.match(integrity.crewCallsQuarantined, [
    { jobId: 'job-1', department: 'lights', lostRuns: 2, reason: /^its sync ended the process twice/ },
  ])
  t.equal(integrity.crewCallsQuarantined.length, 1)
  const metrics = await (
    await fetch(`${survivor.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  ).text()
  t.match(metrics, /rostersync_crew_calls_quarantined 1/)
  t.match(metrics, /rostersync_sync_quarantines_total 1/)
  t.match(metrics, /rostersync_crew_calls\{state="failed"\} 1/)
  t.match(survivor.output(), /crew call quarantined: its sync ended the process twice/)

  // Once its cause is fixed, a manual sync re-arms it; the run finishes, and its lost runs count from 0.
  w.flex.clearFaults()
  const manual = await injectAs(w.app, 'service', { method: 'POST', url: `${crewCallUrl('lights')}/sync` })
  t.equal(manual.json().run.status, 'succeeded')
  t.match(await syncOf(w, 'lights'), { state: 'in-sync', lostRuns: 0, lastError: null })
})
