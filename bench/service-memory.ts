import { buildServer, type ServerProcess, startServer } from '../test/helpers/server-process.ts'
import { measurePerRow } from './calendar-rows.ts'
import { createBenchDatabase } from './database.ts'
import { megabytes, withCleanup } from './lib.ts'
import { measureRate, runCalls } from './load.ts'
import { BENCH_AUTH, replaceOverHttp } from './service.ts'
import { RotatingSets } from './workload.ts'

export const SERVICE_PEAK_RSS_GOAL_MB = 200

// The calendar throughput workload (bench/calendar-bench.ts), shorter: it only has to reach a steady state.
const LOAD = { clients: 16, users: 200, setSize: 20, warmupCalls: 600, durationMs: 4_000 }
// The largest set the API accepts (MAX_CALENDARS_PER_SET); each run is two replaces (create, rotate).
const LARGE = { calendars: 10_000, runs: 3 }

export interface ServiceMemoryBenchFigures {
  load: typeof LOAD & { replaces: number }
  large: typeof LARGE
  /** Peak RSS (VmHWM) of the server process once it answers /health/ready, before any load. */
  startRssMb: number
  /** Peak RSS after the throughput load, before the large sets. */
  throughputRssMb: number
  /** Peak RSS after the large sets too: the service's peak under the whole load. */
  peakRssMb: number
  goalMet: boolean
}

/**
 * Runs the built service (dist/src/server.js, compiled first) as a process of its own on a fresh
 * database, drives it over HTTP with the calendar throughput workload, then with a few replaces of the
 * largest set the API accepts, and reads the server process's peak resident set size (VmHWM) after
 * start and after each phase. Only the service is measured: clients and sets live in this process.
 */
export function runServiceMemoryBench(): Promise<ServiceMemoryBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    await buildServer()
    const server = await startServer(
      cleanup,
      { DATABASE_URL: databaseUrl, ...BENCH_AUTH, LOG_LEVEL: 'warn', DB_POOL_MAX: String(LOAD.clients) },
      { built: true },
    )
    await server.ready()
    const startRss = await peakRss(server)

    const replace = replaceOverHttp(server.url)
    const sets = new RotatingSets('memory', LOAD.users, LOAD.setSize)
    const replaceNext = () => {
      const { userId, calendars } = sets.next()
      return replace(userId, calendars)
    }
    await runCalls(replaceNext, LOAD.clients, LOAD.warmupCalls)
    const { calls } = await measureRate(replaceNext, LOAD.clients, LOAD.durationMs)
    const throughputRss = await peakRss(server)

    await measurePerRow(replace, LARGE)
    const peak = await peakRss(server)

    return {
      load: { ...LOAD, replaces: LOAD.warmupCalls + calls },
      large: LARGE,
      startRssMb: megabytes(startRss),
      throughputRssMb: megabytes(throughputRss),
      peakRssMb: megabytes(peak),
      goalMet: megabytes(peak) < SERVICE_PEAK_RSS_GOAL_MB,
    }
  })
}

/** The figures as table lines, in the style of formatCalendarBench, saying whether the goal is met. */
export function formatServiceMemoryBench(figures: ServiceMemoryBenchFigures): string {
  const { load, large } = figures
  return [
    `peak RSS, service alone   after start ${figures.startRssMb.toFixed(0)} MB   ` +
      `after throughput load ${figures.throughputRssMb.toFixed(0)} MB   ` +
      `after ${large.calendars}-calendar sets ${figures.peakRssMb.toFixed(0)} MB   ` +
      `goal < ${SERVICE_PEAK_RSS_GOAL_MB} MB: ${figures.goalMet ? 'met' : 'MISSED'}`,
    `  (built server process, VmHWM; ${load.replaces} replaces of ${load.setSize} calendars from ` +
      `${load.clients} clients, then ${large.runs * 2} replaces of ${large.calendars} calendars)`,
  ].join('\n')
}

async function peakRss(server: ServerProcess): Promise<number> {
  const bytes = await server.peakRss()
  if (bytes === undefined) throw new Error(`cannot read the peak RSS of the server (pid ${server.pid})`)
  return bytes
}
