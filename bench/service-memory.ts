import { loadConfig } from '../src/config.ts'
import type { CalendarInput } from '../src/services/calendars/calendar-schemas.ts'
import { measurePerRow } from './calendar-rows.ts'
import { createBenchDatabase } from './database.ts'
import { megabytes, withCleanup } from './lib.ts'
import { measureRate, runCalls } from './load.ts'
import {
  BENCH_OTHER_SERVICE_KEY,
  BenchClient,
  calendarsPath,
  productionNodeFlags,
  replaceOverHttp,
  startServiceProcess,
} from './service.ts'
import { calendarGeneration, RotatingSets } from './workload.ts'

export const SERVICE_PEAK_RSS_GOAL_MB = 200

// The calendar throughput workload (bench/calendar-bench.ts), shorter: it only has to reach a steady state.
const LOAD = { clients: 16, users: 200, setSize: 20, warmupCalls: 600, durationMs: 4_000 }
// The largest set the API accepts (MAX_CALENDARS_PER_SET); each run is two replaces (create, rotate).
const LARGE = { calendars: 10_000, runs: 3 }
// Bodies sent at once, by two credentials (alternating, so each has its share of the body budget): sets
// of 10,000 calendars as the workload makes them (about 2.2 MB each), then sets of 10,000 whose
// descriptions bring each body to just under the body limit (BODY_LIMIT_BYTES), then the two mixed (one
// credential sends the largest, the other the ordinary: the most the budget lets in at once).
const PARALLEL = {
  bodies: 16,
  calendars: 10_000,
  largestBodyBytes: loadConfig({}).BODY_LIMIT_BYTES - 64 * 1024,
}

export interface ParallelBodies {
  bodies: number
  bodyMb: number
  /** Answers by status: every one must be 200 or 503. */
  answers: Record<string, number>
  /** Users whose set is neither the one sent (200) nor the one before (503): must be 0. */
  broken: number
  peakRssMb: number
}

export interface ServiceMemoryBenchFigures {
  load: typeof LOAD & { replaces: number }
  large: typeof LARGE
  nodeFlags: string
  /** Peak RSS (VmHWM) of the server process once it answers /health/ready, before any load. */
  startRssMb: number
  /** Peak RSS after the throughput load, before the large sets. */
  throughputRssMb: number
  /** Peak RSS after the large sets one at a time. */
  largeRssMb: number
  ordinary: ParallelBodies
  largest: ParallelBodies
  mixed: ParallelBodies
  /** The service survived, answered 200 or 503 and kept every set whole. */
  survived: boolean
  /** Peak RSS over the whole run. */
  peakRssMb: number
  goalMet: boolean
}

/**
 * Runs the built service as a process of its own (startServiceProcess: its production heap limits) on a
 * fresh database, drives it over HTTP with the calendar throughput workload, then replaces of the largest
 * set one at a time, then PARALLEL.bodies sets of 10,000 calendars sent at once, twice (bodies as the
 * workload makes them, then bodies near the body limit), and reads the server process's peak resident set
 * size (VmHWM) after start and after each phase. Only the service is measured: clients and sets live in
 * this process.
 */
export function runServiceMemoryBench(): Promise<ServiceMemoryBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    const server = await startServiceProcess(
      { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(LOAD.clients) },
      cleanup,
    )
    const peakRss = async () => {
      const bytes = await server.peakRss()
      if (bytes === undefined) throw new Error(`the server died (pid ${server.pid}):\n${server.output()}`)
      return megabytes(bytes)
    }
    const startRss = await peakRss()

    const client = new BenchClient(server.url, PARALLEL.bodies, cleanup)
    const replace = replaceOverHttp(client)
    const replaceNext = new RotatingSets('memory', LOAD.users, LOAD.setSize).calls(replace)
    await runCalls(replaceNext, LOAD.clients, LOAD.warmupCalls)
    const { calls } = await measureRate(replaceNext, LOAD.clients, LOAD.durationMs)
    const throughputRss = await peakRss()

    await measurePerRow(replace, LARGE)
    const largeRss = await peakRss()

    const ordinary = await sendAtOnce(client, 'ordinary', (generation) =>
      calendarGeneration(generation, PARALLEL.calendars),
    )
    ordinary.peakRssMb = await peakRss()
    const largest = await sendAtOnce(client, 'largest', (generation) => largestSet(generation))
    largest.peakRssMb = await peakRss()
    const mixed = await sendAtOnce(client, 'mixed', (generation, credential) =>
      credential === 0 ? largestSet(generation) : calendarGeneration(generation, PARALLEL.calendars),
    )
    mixed.peakRssMb = await peakRss()

    const survived =
      server.running() &&
      [ordinary, largest, mixed].every((phase) => phase.broken === 0 && onlyOkOrBusy(phase))
    return {
      load: { ...LOAD, replaces: LOAD.warmupCalls + calls },
      large: LARGE,
      nodeFlags: productionNodeFlags().join(' '),
      startRssMb: startRss,
      throughputRssMb: throughputRss,
      largeRssMb: largeRss,
      ordinary,
      largest,
      mixed,
      survived,
      peakRssMb: mixed.peakRssMb,
      goalMet: survived && mixed.peakRssMb < SERVICE_PEAK_RSS_GOAL_MB,
    }
  })
}

const onlyOkOrBusy = (phase: ParallelBodies) =>
  Object.keys(phase.answers).every((status) => status === '200' || status === '503')

/**
 * PARALLEL.bodies users each get a first set one at a time, then all their next sets at once, user i's
 * sent by credential i % 2 (the bench key or the other) and made by `setOf(generation, credential)`.
 * Every answer is counted by status; afterwards each user's set must be whole: the one sent when it was
 * answered 200, the one before when 503.
 */
async function sendAtOnce(
  client: BenchClient,
  prefix: string,
  setOf: (generation: number, credential: number) => CalendarInput[],
): Promise<ParallelBodies> {
  const users = Array.from({ length: PARALLEL.bodies }, (_, i) => `${prefix}-${i}`)
  const credentialOf = (i: number) => i % 2
  const headersOf = (i: number): Record<string, string> =>
    credentialOf(i) === 0 ? {} : { authorization: `Bearer ${BENCH_OTHER_SERVICE_KEY}` }
  const sets = [0, 1].map((generation) => [0, 1].map((credential) => setOf(generation, credential)))
  const setFor = (generation: number, i: number) => sets[generation]?.[credentialOf(i)] ?? []
  for (const [i, userId] of users.entries()) await replaceOverHttp(client)(userId, setFor(0, i))
  const statuses = await Promise.all(
    users.map(
      async (userId, i) =>
        (await client.put(calendarsPath(userId), { calendars: setFor(1, i) }, headersOf(i))).status,
    ),
  )
  const answers: Record<string, number> = {}
  for (const status of statuses) answers[status] = (answers[status] ?? 0) + 1
  // The ids the read must answer, in its order: the ids are ASCII, where byte and code-unit order agree.
  const idsOf = (calendars: { calendarId: string }[]) => calendars.map((c) => c.calendarId)
  const sortedIds = (set: CalendarInput[]) => idsOf(set).sort().join('\n')
  let broken = 0
  for (const [i, userId] of users.entries()) {
    const answer = await client.get(calendarsPath(userId))
    const held = idsOf((JSON.parse(answer.body) as { calendars: { calendarId: string }[] }).calendars)
    if (held.join('\n') !== sortedIds(setFor(statuses[i] === 200 ? 1 : 0, i))) broken++
  }
  const largestBody = Math.max(
    ...users.map((_, i) => Buffer.byteLength(JSON.stringify({ calendars: setFor(1, i) }))),
  )
  return {
    bodies: PARALLEL.bodies,
    bodyMb: megabytes(largestBody),
    answers,
    broken,
    peakRssMb: 0,
  }
}

/** A generation of 10,000 calendars whose descriptions bring the body to about PARALLEL.largestBodyBytes. */
function largestSet(generation: number): CalendarInput[] {
  const calendars = calendarGeneration(generation, PARALLEL.calendars)
  const plain = Buffer.byteLength(JSON.stringify({ calendars }))
  const description = 'd'.repeat(Math.floor((PARALLEL.largestBodyBytes - plain) / PARALLEL.calendars))
  return calendars.map((calendar) => ({ ...calendar, description }))
}

/** The figures as table lines, in the style of formatCalendarBench, saying whether the goal is met. */
export function formatServiceMemoryBench(figures: ServiceMemoryBenchFigures): string {
  const { load, large, ordinary, largest, mixed } = figures
  const parallel = (phase: ParallelBodies) =>
    `${phase.bodies} x ${phase.bodyMb.toFixed(1)} MB bodies at once: ` +
    `${Object.entries(phase.answers)
      .map(([status, count]) => `${count} x ${status}`)
      .join(', ')}, ${phase.broken} sets not whole, peak ${phase.peakRssMb.toFixed(0)} MB`
  return [
    `peak RSS, service alone   after start ${figures.startRssMb.toFixed(0)} MB   ` +
      `after throughput load ${figures.throughputRssMb.toFixed(0)} MB   ` +
      `after ${large.calendars}-calendar sets ${figures.largeRssMb.toFixed(0)} MB   ` +
      `whole run ${figures.peakRssMb.toFixed(0)} MB   ` +
      `goal < ${SERVICE_PEAK_RSS_GOAL_MB} MB and survives: ${figures.goalMet ? 'met' : 'MISSED'}`,
    `  ${parallel(ordinary)}`,
    `  ${parallel(largest)}`,
    `  ${parallel(mixed)} (largest and ordinary bodies by two credentials)`,
    `  (built server process, node ${figures.nodeFlags}, VmHWM; ${load.replaces} replaces of ${load.setSize} ` +
      `calendars from ${load.clients} clients, then ${large.runs * 2} replaces of ${large.calendars} calendars ` +
      `one at a time, then the bodies at once from two credentials; survived: ${figures.survived ? 'yes' : 'NO'})`,
  ].join('\n')
}
