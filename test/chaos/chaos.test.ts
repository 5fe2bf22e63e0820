import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createTestDatabase } from '../helpers/database.ts'
import { formatChaosReport } from './report.ts'
import { runChaos } from './run-chaos.ts'
import { CREW_CALLS } from './scenario.ts'

// The whole file (two clusters, one after the other) under a bound of its own instead of .taprc's 120 s:
// on a 2-core machine shared with other work it took 117 s, and each run has bounded waits beyond its
// faults (autonomous convergence 60 s, the webhook outbox's drain 60 s); each test keeps its 180 s.
t.setTimeout(300_000)

// The short configuration of `npm run chaos`: three real server processes, eight seconds of load
// and faults, then the checker. A violation fails the test with the report and the history's path.
t.test('under injected faults, every invariant holds across three server processes', async (t) => {
  t.setTimeout(180_000)
  const databaseUrl = await createTestDatabase(t)
  const seed = Number(process.env.CHAOS_SEED ?? 20261201)
  const historyFile = join(tmpdir(), `rostersync-chaos-test-${seed}-${process.pid}.jsonl`)
  const report = await runChaos(t, databaseUrl, {
    servers: 3,
    durationMs: 8_000,
    clients: 8,
    seed,
    historyFile,
  })
  t.comment(formatChaosReport(report))
  t.same(report.violations, [], `no invariant violated (history: ${historyFile})`)
  t.ok(report.totals.faults.sigkill, 'a server was killed mid-sync and restarted')
  t.ok(report.totals.faults['pg-terminate'], 'connections were terminated mid-transaction')
  t.ok(report.totals.byKind['replace-calendars']?.ok, 'calendar replaces were acknowledged')
  t.ok(report.totals.byKind['sync-crew-call']?.ok, 'syncs ran')
  t.ok(report.totals.faults['webhook-500'], 'the webhook receiver answered 500s')
  t.ok(report.totals.webhooks.committedVersions > 0, 'committed versions were checked against the receiver')
})

// The same with clients that never ask for a sync: the servers' workers converge on their own.
t.test('without any client sync, every crew call reaches in-sync once the faults stop', async (t) => {
  t.setTimeout(180_000)
  const databaseUrl = await createTestDatabase(t)
  const seed = Number(process.env.CHAOS_SEED ?? 20261202)
  const historyFile = join(tmpdir(), `rostersync-chaos-autonomous-${seed}-${process.pid}.jsonl`)
  const report = await runChaos(t, databaseUrl, {
    servers: 2,
    durationMs: 6_000,
    clients: 6,
    seed,
    historyFile,
    autonomous: true,
  })
  t.comment(formatChaosReport(report))
  t.same(report.violations, [], `no invariant violated (history: ${historyFile})`)
  const syncRequests = Object.values(report.totals.byKind['sync-crew-call'] ?? {}).reduce((a, b) => a + b, 0)
  t.equal(report.totals.byKind['sync-job'], undefined, 'no job sync asked for')
  t.equal(
    syncRequests,
    report.totals.finalSyncRequests + CREW_CALLS.length,
    'the only syncs asked for are the final checks, after the crew calls were in sync',
  )
  t.ok(report.totals.autonomousConvergenceSeconds !== undefined)
})
