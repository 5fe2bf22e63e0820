import { startBaseline } from './baseline.ts'
import { measurePerRow } from './calendar-rows.ts'
import { compareThroughput, type ThroughputOptions } from './calendar-throughput.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'
import { BenchClient, replaceOverHttp, startServiceProcess } from './service.ts'
import { type ReplaceCalendars, RotatingSets } from './workload.ts'

export const THROUGHPUT_RATIO_GOAL = 0.6
/** The bars: without a key at least 0.5 (the goal is 0.6), with an Idempotency-Key at least 0.3. */
export const THROUGHPUT_RATIO_BAR = 0.5
export const KEYED_THROUGHPUT_RATIO_BAR = 0.3
export const PER_ROW_RATIO_GOAL = 2

/** The calendar PUT workload: also the tracing bench's and bench/server-ab.ts's (with longer runs). */
export const CALENDAR_THROUGHPUT: ThroughputOptions & { users: number; setSize: number } = {
  clients: 16,
  users: 200,
  setSize: 20,
  warmupCalls: 600,
  warmupRounds: 2,
  durationMs: 8_000,
  rounds: 4,
}
const PER_ROW = { small: { calendars: 100, runs: 7 }, large: { calendars: 10_000, runs: 3 } }

export interface CalendarBenchFigures {
  throughput: ThroughputOptions & {
    users: number
    setSize: number
    /** Replaces per second; the baseline is one call of the service's replace function per replace, over pg. */
    service: number
    /** The same PUT, each with a new Idempotency-Key (its response stored in the replace's transaction). */
    serviceWithKey: number
    baseline: number
    /** service / baseline */
    ratio: number
    /** serviceWithKey / baseline */
    keyedRatio: number
    goalMet: boolean
  }
  perRow: {
    /** Median over `runs` of the second replace of a fresh user's set (half kept, half rotated). */
    small: { calendars: number; runs: number; msPerRow: number }
    large: { calendars: number; runs: number; msPerRow: number }
    /** large / small: the goal is at most PER_ROW_RATIO_GOAL. */
    ratio: number
    goalMet: boolean
  }
}

/**
 * Runs the calendar benchmark on a fresh database and returns its figures: the service (the built
 * server in a process of its own, with its production heap limits, driven over HTTP by undici from this
 * process), with and without Idempotency-Keys, against the baseline (the same replace_calendar_set call,
 * over pg from this process), then
 * the service's time per row of one replace of a small and of a large set. The per-row replaces run
 * last, so the planner's statistics are those of a database in use (users of about 20 calendars).
 */
export function runCalendarBench(): Promise<CalendarBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    // The service's pool gets as many connections as the baseline's.
    const env = { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(CALENDAR_THROUGHPUT.clients) }
    const server = await startServiceProcess(env, cleanup)
    const client = new BenchClient(server.url, CALENDAR_THROUGHPUT.clients, cleanup)
    const service = replaceOverHttp(client)
    const serviceWithKey = replaceOverHttp(client, { idempotencyKeys: true })
    const baseline = await startBaseline(databaseUrl, CALENDAR_THROUGHPUT.clients, cleanup)

    // Each contender replaces the sets of users of its own, round-robin (RotatingSets).
    const nextOf = (name: string, replace: ReplaceCalendars) =>
      new RotatingSets(name, CALENDAR_THROUGHPUT.users, CALENDAR_THROUGHPUT.setSize).calls(replace)
    const rates = await compareThroughput(
      databaseUrl,
      {
        service: nextOf('service', service),
        serviceWithKey: nextOf('service-with-key', serviceWithKey),
        baseline: nextOf('baseline', baseline),
      },
      CALENDAR_THROUGHPUT,
    )
    const throughputRatio = rates.service / rates.baseline

    const small = { ...PER_ROW.small, msPerRow: await measurePerRow(service, PER_ROW.small) }
    const large = { ...PER_ROW.large, msPerRow: await measurePerRow(service, PER_ROW.large) }
    const perRowRatio = large.msPerRow / small.msPerRow

    return {
      throughput: {
        ...CALENDAR_THROUGHPUT,
        service: rates.service,
        serviceWithKey: rates.serviceWithKey,
        baseline: rates.baseline,
        ratio: throughputRatio,
        keyedRatio: rates.serviceWithKey / rates.baseline,
        goalMet: throughputRatio >= THROUGHPUT_RATIO_GOAL,
      },
      perRow: {
        small,
        large,
        ratio: perRowRatio,
        // The goal is "no per-row round trips": a large set may cost less per row (fixed costs spread).
        goalMet: perRowRatio <= PER_ROW_RATIO_GOAL,
      },
    }
  })
}

/** The figures as a table, one line per measure, saying whether each goal is met. */
export function formatCalendarBench({ throughput, perRow }: CalendarBenchFigures): string {
  const goal = (met: boolean) => (met ? 'met' : 'MISSED')
  const bar = (ratio: number, least: number) => `bar >= ${least}: ${goal(ratio >= least)}`
  const { small, large } = perRow
  return [
    `calendar bench: ${throughput.clients} clients, ${throughput.users} users, ${throughput.setSize} ` +
      `calendars per replace (half kept, half rotated), ${throughput.durationMs / 1000} s per side ` +
      `in ${throughput.rounds} alternating rounds, after ${throughput.warmupRounds} untimed ones`,
    `calendar PUT throughput   service ${throughput.service.toFixed(0)} req/s   ` +
      `baseline ${throughput.baseline.toFixed(0)} req/s   ratio ${throughput.ratio.toFixed(2)}   ` +
      `${bar(throughput.ratio, THROUGHPUT_RATIO_BAR)}, goal >= ${THROUGHPUT_RATIO_GOAL}: ${goal(throughput.goalMet)}`,
    `  with Idempotency-Key    service ${throughput.serviceWithKey.toFixed(0)} req/s   ` +
      `ratio ${throughput.keyedRatio.toFixed(2)}   ${bar(throughput.keyedRatio, KEYED_THROUGHPUT_RATIO_BAR)}`,
    '  (service: the built server, its own process and heap limits; load: undici from the bench process; ' +
      'baseline: replace_calendar_set over pg, no HTTP)',
    `per-row replace time      ${small.calendars} calendars ${small.msPerRow.toFixed(4)} ms/row   ` +
      `${large.calendars} calendars ${large.msPerRow.toFixed(4)} ms/row   ` +
      `ratio ${large.calendars}/${small.calendars} ${perRow.ratio.toFixed(2)}   ` +
      `goal within ${PER_ROW_RATIO_GOAL}x: ${goal(perRow.goalMet)}`,
    `  (each: median of ${small.runs}/${large.runs} runs of a fresh user's second replace, half kept, ` +
      'half rotated; client-side time over HTTP)',
  ].join('\n')
}
