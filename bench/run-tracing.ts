/** The tracing benchmark alone (npm run bench runs it with the others): `tsx bench/run-tracing.ts`. */
import { formatTracingBench, runTracingBench } from './tracing-bench.ts'

console.log(formatTracingBench(await runTracingBench()))
