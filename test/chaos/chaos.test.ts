import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createTestDatabase } from '../helpers/database.ts'
import { formatChaosReport } from './report.ts'
import { runChaos } from './run-chaos.ts'

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
})
