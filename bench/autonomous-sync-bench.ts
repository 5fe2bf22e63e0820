import { buildApp } from '../src/app.ts'
import { scheduleAfterChange } from '../src/services/sync/sync-status.ts'
import { startFakeFlex } from '../test/helpers/fake-flex/fake-flex.ts'
import { createBenchDatabase } from './database.ts'
import { type Cleanup, median, withCleanup } from './lib.ts'
import { BENCH_SERVICE_KEY, benchConfig } from './service.ts'

const CREW_CALLS = 20
const ROUNDS = 3
const FLEX_LATENCY_MS = 20
const TIMEOUT_MS = 180_000

export interface LatencyFigures {
  errorRate: number
  samples: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface AutonomousSyncBenchFigures {
  latency: LatencyFigures[]
  /** Roster-write transactions per second, with the reconcile scheduled in the version bump and without. */
  enqueue: { withPerSecond: number; withoutPerSecond: number; ratio: number }
}

/**
 * Time from a roster PUT's answer to Flex holding the new technician's line, with nobody calling
 * sync: the app's own workers, with the default schedule (debounce, poll, backoff), against the fake
 * Flex at 20 ms latency; 20 crew calls changed at once, 3 rounds, at 0% and at 30% Flex 5xx.
 */
export function runAutonomousSyncBench(): Promise<AutonomousSyncBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    const flex = await startFakeFlex({ latencyMs: FLEX_LATENCY_MS })
    cleanup.add(() => flex.close())
    const app = await buildApp(
      benchConfig({
        DATABASE_URL: databaseUrl,
        FLEX_BASE_URL: flex.url,
        FLEX_AUTH_TOKEN: flex.token,
        SYNC_WORKER: 'on',
      }),
    )
    cleanup.add(() => app.close())
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })
    const call = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`${origin}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${BENCH_SERVICE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      if (response.status >= 300)
        throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`)
    }
    const technicians = Array.from({ length: ROUNDS * 2 }, (_, i) => `tech-${i}`)
    for (const [i, id] of technicians.entries())
      await call('PUT', `/technicians/${id}`, { name: id, flexResourceId: `res-${i}` })
    const jobs = Array.from({ length: CREW_CALLS }, (_, i) => `job-${i}`)
    for (const job of jobs)
      await call('PUT', `/jobs/${job}/crew-calls/sound`, { flexElementId: `element-${job}` })

    const latency: LatencyFigures[] = []
    let round = 0
    for (const errorRate of [0, 0.3]) {
      if (errorRate > 0) flex.setFlakiness({ errorRate })
      const samples: number[] = []
      for (let r = 0; r < ROUNDS; r++, round++) {
        const technicianId = technicians[round] as string
        const resourceId = `res-${round}`
        const answered = await Promise.all(
          jobs.map(async (job) => {
            await call('PUT', `/jobs/${job}/crew-calls/sound/assignments`, {
              assignments: [{ technicianId }],
            })
            return performance.now()
          }),
        )
        const arrived = await Promise.all(
          jobs.map(async (job) => {
            const deadline = Date.now() + TIMEOUT_MS
            while (!flex.lines(`element-${job}`).some((line) => line.resourceId === resourceId)) {
              if (Date.now() > deadline)
                throw new Error(`${job}: no line for ${resourceId} after ${TIMEOUT_MS} ms`)
              await new Promise((resolve) => setTimeout(resolve, 5))
            }
            return performance.now()
          }),
        )
        samples.push(...arrived.map((at, i) => at - (answered[i] as number)))
      }
      flex.clearFaults()
      latency.push({ errorRate, samples: samples.length, ...percentiles(samples) })
    }
    if (flex.duplicateAdds.length > 0) throw new Error(`${flex.duplicateAdds.length} duplicate adds`)
    await app.close()
    return { latency, enqueue: await measureEnqueue(databaseUrl, cleanup) }
  })
}

/**
 * What scheduling the reconcile costs a roster write: the transaction every roster write runs (lock the
 * crew call's row, bump its version) through Prisma, 8 clients on 8 crew calls, alternating 3 s rounds
 * with the schedule's columns in the version bump (as the service does) and without.
 */
async function measureEnqueue(databaseUrl: string, cleanup: Cleanup) {
  const app = await buildApp(benchConfig({ DATABASE_URL: databaseUrl, DB_POOL_MAX: '8' }))
  cleanup.add(() => app.close())
  const { prisma } = app.db
  const ids = (await prisma.crewCall.findMany({ select: { id: true }, take: 8 })).map((row) => row.id)
  const schedule = scheduleAfterChange(1_000)
  const write = (id: string, withSchedule: boolean) =>
    prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM crew_calls WHERE id = ${id}::uuid FOR UPDATE`
      await (withSchedule
        ? tx.$queryRaw`UPDATE crew_calls SET version = version + 1, updated_at = now(), ${schedule} WHERE id = ${id}::uuid RETURNING version`
        : tx.$queryRaw`UPDATE crew_calls SET version = version + 1, updated_at = now() WHERE id = ${id}::uuid RETURNING version`)
    })
  const round = async (withSchedule: boolean) => {
    let done = 0
    const until = performance.now() + 3_000
    await Promise.all(
      ids.map(async (id) => {
        while (performance.now() < until) {
          await write(id, withSchedule)
          done++
        }
      }),
    )
    return done / 3
  }
  const withRates: number[] = []
  const withoutRates: number[] = []
  for (let i = 0; i < 3; i++) {
    withoutRates.push(await round(false))
    withRates.push(await round(true))
  }
  const withPerSecond = median(withRates)
  const withoutPerSecond = median(withoutRates)
  return { withPerSecond, withoutPerSecond, ratio: withPerSecond / withoutPerSecond }
}

function percentiles(samples: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) as number }
}

export function formatAutonomousSyncBench({ latency, enqueue }: AutonomousSyncBenchFigures): string {
  return latency
    .map(
      (figures) =>
        `autonomous sync           roster PUT answered -> line in Flex, no sync call, default schedule, ` +
        `${Math.round(figures.errorRate * 100)}% Flex 5xx: p50 ${figures.p50Ms.toFixed(0)} ms, ` +
        `p99 ${figures.p99Ms.toFixed(0)} ms, max ${figures.maxMs.toFixed(0)} ms (${figures.samples} changes)`,
    )
    .concat(
      `roster write + enqueue    the roster transaction (lock, version bump) through Prisma, 8 clients: ` +
        `${enqueue.withPerSecond.toFixed(0)}/s with the reconcile scheduled in the bump, ` +
        `${enqueue.withoutPerSecond.toFixed(0)}/s without: ratio ${enqueue.ratio.toFixed(2)}`,
    )
    .join('\n')
}
