/**
 * npm run bench: the calendar benchmark (bench/calendar-bench.ts) and the crew sync benchmark
 * (bench/crew-sync-bench.ts), printed as a table and written to bench/results.md with the machine they
 * ran on. A missed goal is reported, not an error: the exit code is non-zero only when a benchmark
 * itself fails.
 */
import { writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { formatCalendarBench, runCalendarBench } from './calendar-bench.ts'
import { formatCrewSyncBench, runCrewSyncBench } from './crew-sync-bench.ts'

const table = [
  formatCalendarBench(await runCalendarBench()),
  formatCrewSyncBench(await runCrewSyncBench()),
].join('\n')
console.log(table)

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
await writeFile(
  new URL('./results.md', import.meta.url),
  `# npm run bench: results\n\n${new Date().toISOString()}, ${machine}.\n\n\`\`\`\n${table}\n\`\`\`\n`,
)
