/**
 * npm run bench: the calendar benchmark (bench/calendar-bench.ts), what calendar history costs
 * PostgreSQL (bench/history-cost.ts), the roster PUT against its function
 * (bench/roster-bench.ts), the service's own memory under load
 * (bench/service-memory.ts), calendar PUTs with tracing on vs off (bench/tracing-bench.ts), the crew sync
 * benchmark (bench/crew-sync-bench.ts), autonomous sync's latency
 * and the cost of its enqueue (bench/autonomous-sync-bench.ts), webhooks' cost on calendar PUTs and their
 * delivery latency (bench/webhook-bench.ts), what one delivery costs in CPU per process
 * (bench/webhook-cost.ts) and a round of the chaos
 * suite (bench/chaos-bench.ts), printed as a table and written to bench/results.md with the machine they
 * ran on. A missed goal is reported, not an error: the exit code is non-zero only when a benchmark
 * itself fails, or the chaos round finds a violated invariant.
 */
import { writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { formatChaosReport } from '../test/chaos/report.ts'
import { formatAutonomousSyncBench, runAutonomousSyncBench } from './autonomous-sync-bench.ts'
import { formatCalendarBench, runCalendarBench } from './calendar-bench.ts'
import { BENCH_CHAOS, runChaosOnFreshDatabase } from './chaos-bench.ts'
import { formatCrewSyncBench, runCrewSyncBench } from './crew-sync-bench.ts'
import { formatHistoryCostBench, runHistoryCostBench } from './history-cost.ts'
import { formatRosterBench, runRosterBench } from './roster-bench.ts'
import { formatServiceMemoryBench, runServiceMemoryBench } from './service-memory.ts'
import { formatTracingBench, runTracingBench } from './tracing-bench.ts'
import { formatWebhookBench, runWebhookBench } from './webhook-bench.ts'
import { formatWebhookCostBench, runWebhookCostBench } from './webhook-cost.ts'

/** Each bench's lines, printed as soon as it has run (a later failure loses none of them). */
async function section(lines: Promise<string>): Promise<string> {
  const text = await lines
  console.log(text)
  return text
}

const sections = [
  await section(runCalendarBench().then(formatCalendarBench)),
  await section(runHistoryCostBench().then(formatHistoryCostBench)),
  await section(runRosterBench().then(formatRosterBench)),
  await section(runServiceMemoryBench().then(formatServiceMemoryBench)),
  await section(runTracingBench().then(formatTracingBench)),
  await section(runCrewSyncBench().then(formatCrewSyncBench)),
  await section(runAutonomousSyncBench().then(formatAutonomousSyncBench)),
  await section(runWebhookBench().then(formatWebhookBench)),
  await section(runWebhookCostBench().then(formatWebhookCostBench)),
]
const chaos = await runChaosOnFreshDatabase(BENCH_CHAOS)
const table = [...sections, await section(Promise.resolve(formatChaosReport(chaos)))].join('\n')

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
await writeFile(
  new URL('./results.md', import.meta.url),
  `# npm run bench: results\n\n${new Date().toISOString()}, ${machine}.\n\n\`\`\`\n${table}\n\`\`\`\n`,
)
if (chaos.violations.length > 0) process.exit(1)
