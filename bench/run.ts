/**
 * npm run bench: the calendar benchmark (bench/calendar-bench.ts) and the crew sync benchmark
 * (bench/crew-sync-bench.ts), printed as a table. A missed goal is reported, not an error: the exit
 * code is non-zero only when a benchmark itself fails.
 */
import { formatCalendarBench, runCalendarBench } from './calendar-bench.ts'
import { formatCrewSyncBench, runCrewSyncBench } from './crew-sync-bench.ts'

console.log(formatCalendarBench(await runCalendarBench()))
console.log(formatCrewSyncBench(await runCrewSyncBench()))
