import t, { type Test } from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import {
  type CrewWorld,
  crewWorld,
  linesPerResource,
  replaceRoster,
  resourceId,
  roster,
  sync,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'
import { waitFor } from '../../helpers/wait.ts'

/**
 * Workers are not bound by polling (src/services/sync/sync-worker.ts, src/db/notification-listener.ts):
 * a roster change made on one instance wakes another instance's idle worker through LISTEN/NOTIFY, an idle
 * worker sleeps only until the next due time it knows of, and polling still finds a change whose notice
 * was lost. The workers here poll once every 10 minutes, far longer than any wait in this file, so a
 * reconcile that happens came from a wake, not from a poll (except where polling is the point).
 */

const NEVER_POLL = '600000'
const WORKER = {
  SYNC_WORKER: 'on',
  SYNC_DEBOUNCE_MS: '100',
  SYNC_RETRY_BASE_MS: '100',
  SYNC_RETRY_MAX_MS: '400',
  SYNC_LEASE_MS: '5000',
  SYNC_RESYNC_INTERVAL_MS: '0',
  FLEX_MAX_ATTEMPTS: '1',
}
const WAIT = { timeoutMs: 60_000 }

/** Instance A (no worker: it only takes the API's writes) and instance B (a worker), on one database. */
async function twoInstances(t: Test, workerEnv: Record<string, string>) {
  const a = await crewWorld(t, 3, { env: { SYNC_DEBOUNCE_MS: WORKER.SYNC_DEBOUNCE_MS } })
  // The new crew call is synced by hand first: B's worker starts with nothing due.
  t.equal((await sync(a.app)).status, 200)
  const b = await build(t, {
    databaseUrl: a.databaseUrl,
    env: { ...WORKER, FLEX_BASE_URL: a.flex.url, FLEX_AUTH_TOKEN: a.flex.token, ...workerEnv },
  })
  return { a, b }
}

const holdsRoster = (w: CrewWorld, count: number) => () => {
  const lines = linesPerResource(w.flex)
  return (lines.size === count && roster(count).every((_, i) => lines.get(resourceId(i)) === 1)) || undefined
}

async function runTriggers(w: CrewWorld): Promise<string[]> {
  const page = (await injectAs(w.app, 'service', { method: 'GET', url: '/v1/sync-runs?limit=100' })).json()
  return (page.runs as { trigger: string }[]).map((run) => run.trigger)
}

t.test("a roster change on one instance wakes another instance's idle worker (LISTEN/NOTIFY)", async (t) => {
  const { a, b } = await twoInstances(t, { SYNC_POLL_MS: NEVER_POLL })
  await waitFor('B to listen', () => b.app.syncDueListener?.listening, WAIT)

  t.equal((await replaceRoster(a.app, roster(2))).statusCode, 200)
  await waitFor("B's worker to reconcile A's change", holdsRoster(a, 2), WAIT)
  t.same(
    (await runTriggers(a)).reverse(),
    ['manual', 'change'],
    'one run for the change, after the first sync by hand',
  )

  // And again: the worker went back to sleep (a 10-minute poll) and the next change wakes it once more.
  t.equal((await replaceRoster(a.app, roster(3))).statusCode, 200)
  await waitFor("B's worker to reconcile A's second change", holdsRoster(a, 3), WAIT)
})

t.test(
  'the listener connects again after its connection is terminated, and looks for what it missed',
  async (t) => {
    const { a, b } = await twoInstances(t, { SYNC_POLL_MS: NEVER_POLL })
    await waitFor('B to listen', () => b.app.syncDueListener?.listening, WAIT)
    const terminated = await withClient(a.databaseUrl, async (client) => {
      const result = await client.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rostersync-listen' AND datname = current_database()`,
      )
      return result.rowCount
    })
    t.equal(terminated, 1, "B's listening connection was terminated")
    // The change commits while B may not be listening: its notice can be lost; B looks when it listens again.
    t.equal((await replaceRoster(a.app, roster(2))).statusCode, 200)
    await waitFor("B's worker to reconcile the change made while it reconnected", holdsRoster(a, 2), WAIT)
    await waitFor('B to listen again', () => b.app.syncDueListener?.listening, WAIT)

    t.equal((await replaceRoster(a.app, roster(3))).statusCode, 200)
    await waitFor("B's worker to reconcile a change after the reconnect", holdsRoster(a, 3), WAIT)
  },
)

t.test(
  'without notices (SYNC_LISTEN=off, as if every one were lost), polling still finds the change',
  async (t) => {
    const { a, b } = await twoInstances(t, { SYNC_LISTEN: 'off', SYNC_POLL_MS: '200' })
    t.equal(b.app.syncDueListener, undefined, 'B does not listen')
    t.equal((await replaceRoster(a.app, roster(2))).statusCode, 200)
    await waitFor("B's worker to find A's change by polling", holdsRoster(a, 2), WAIT)
  },
)

t.test(
  'an idle worker sleeps only until the next due time it knows of: a retry runs without a poll',
  async (t) => {
    // One instance, no notices: the change wakes its own worker; the retry after a failed run is due
    // SYNC_RETRY_BASE_MS later, and nothing tells the worker but its own knowledge of the next due time.
    const w = await crewWorld(t, 3, { env: { ...WORKER, SYNC_LISTEN: 'off', SYNC_POLL_MS: NEVER_POLL } })
    w.flex.fail('list', { status: 500, times: 1 })
    t.equal((await replaceRoster(w.app, roster(2))).statusCode, 200)
    await waitFor('the retry to reconcile the change', holdsRoster(w, 2), WAIT)
    t.same(
      (await runTriggers(w)).reverse(),
      ['change', 'retry'],
      'a failed run for the change, then its retry',
    )
  },
)
