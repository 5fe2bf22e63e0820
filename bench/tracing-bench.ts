import { readFile } from 'node:fs/promises'
import { OtlpReceiver } from '../test/helpers/otlp-receiver.ts'
import { CALENDAR_THROUGHPUT as THROUGHPUT } from './calendar-bench.ts'
import { compareThroughput } from './calendar-throughput.ts'
import { createBenchDatabase } from './database.ts'
import { type Cleanup, median, megabytes, withCleanup } from './lib.ts'
import { BenchClient, replaceOverHttp, startServiceProcess } from './service.ts'
import { RotatingSets } from './workload.ts'

/** Issue 22's goal: calendar PUT throughput with every request traced and exported, against tracing off. */
export const TRACING_RATIO_GOAL = 0.85

const STARTS = 3

interface StartFigures {
  /** Median ms from spawning the built server to its first 200 from /health/ready. */
  readyMs: number
  /** Median resident set (VmRSS) once ready, MB. */
  rssMb: number
}

export interface TracingBenchFigures {
  throughput: typeof THROUGHPUT & { off: number; on: number; ratio: number; goalMet: boolean }
  start: { off: StartFigures; on: StartFigures }
  spansReceived: number
}

/**
 * The built server with tracing off (no OTEL_* set) and on (every span sampled, OTLP/HTTP protobuf to a
 * receiver in this process), each in a process of its own on one database: start time and memory of
 * STARTS starts each, then calendar PUT throughput of both, side by side (compareThroughput's ABBA slices).
 */
export function runTracingBench(): Promise<TracingBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    const receiver = await OtlpReceiver.start()
    cleanup.add(() => receiver.close())
    const env = { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(THROUGHPUT.clients) }
    const tracedEnv = {
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'always_on',
    }
    const start = {
      off: await measureStarts(env, cleanup),
      on: await measureStarts(tracedEnv, cleanup),
    }
    const off = await startServiceProcess(env, cleanup)
    const on = await startServiceProcess(tracedEnv, cleanup)
    const contender = (name: string, url: string) => {
      const replace = replaceOverHttp(new BenchClient(url, THROUGHPUT.clients, cleanup))
      return new RotatingSets(name, THROUGHPUT.users, THROUGHPUT.setSize).calls(replace)
    }
    const rates = await compareThroughput(
      databaseUrl,
      { off: contender('off', off.url), on: contender('on', on.url) },
      THROUGHPUT,
    )
    const ratio = rates.on / rates.off
    return {
      throughput: {
        ...THROUGHPUT,
        off: rates.off,
        on: rates.on,
        ratio,
        goalMet: ratio >= TRACING_RATIO_GOAL,
      },
      start,
      spansReceived: receiver.exports.length,
    }
  })
}

async function measureStarts(env: Record<string, string>, cleanup: Cleanup): Promise<StartFigures> {
  const ready: number[] = []
  const rss: number[] = []
  for (let i = 0; i < STARTS; i++) {
    const started = performance.now()
    const server = await startServiceProcess(env, cleanup)
    ready.push(performance.now() - started)
    rss.push(await residentSet(server.pid))
    server.kill('SIGTERM')
    await server.exitCode()
  }
  return { readyMs: median(ready), rssMb: megabytes(median(rss)) }
}

async function residentSet(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN) * 1024
}

export function formatTracingBench({ throughput, start, spansReceived }: TracingBenchFigures): string {
  const goal = throughput.goalMet ? 'met' : 'MISSED'
  return [
    `tracing bench: calendar PUT, ${throughput.clients} clients, ${throughput.users} users, ${throughput.setSize} calendars per replace`,
    `  tracing off ${throughput.off.toFixed(0)} req/s, on (100% sampled, OTLP/HTTP protobuf to a local receiver) ` +
      `${throughput.on.toFixed(0)} req/s: ratio ${throughput.ratio.toFixed(2)} (goal >= ${TRACING_RATIO_GOAL}: ${goal}); ${spansReceived} exports received`,
    `  start to ready (median of ${STARTS}): off ${start.off.readyMs.toFixed(0)} ms, on ${start.on.readyMs.toFixed(0)} ms; ` +
      `RSS once ready: off ${start.off.rssMb.toFixed(1)} MB, on ${start.on.rssMb.toFixed(1)} MB`,
  ].join('\n')
}
