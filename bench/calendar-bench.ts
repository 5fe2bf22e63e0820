import { startBaseline } from './baseline.ts'
import { measurePerRow } from './calendar-rows.ts'
import { compareThroughput, type ThroughputOptions } from './calendar-throughput.ts'
import { createBenchDatabase } from './database.ts'
import { megabytes, sampleRss, withCleanup } from './lib.ts'
import { replaceOverHttp, startApp } from './service.ts'

export const THROUGHPUT_RATIO_GOAL = 0.6
export const PER_ROW_RATIO_GOAL = 2

const THROUGHPUT: ThroughputOptions = {
  clients: 16,
  users: 200,
  setSize: 20,
  warmupCalls: 600,
  durationMs: 8_000,
  rounds: 4,
}
const PER_ROW = { small: { calendars: 100, runs: 7 }, large: { calendars: 10_000, runs: 3 } }

export interface CalendarBenchFigures {
  throughput: ThroughputOptions & {
    /** Replaces per second; the baseline is one call of the service's replace function per replace, over pg. */
    service: number
    baseline: number
    /** service / baseline */
    ratio: number
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
  memory: {
    /** Peak resident set size of the whole run (process.resourceUsage().maxRSS). */
    peakRssMb: number
    /** Largest process.memoryUsage.rss() sampled during the throughput comparison. */
    throughputRssMb: number
  }
}

/**
 * Runs the calendar benchmark on a fresh database and returns its figures: the service (the real app,
 * hosted by this process, over HTTP) against the baseline (the same replace_calendar_set call, over pg), then
 * the service's time per row of one replace of a small and of a large set. The per-row replaces run
 * last, so the planner's statistics are those of a database in use (users of about 20 calendars).
 */
export function runCalendarBench(): Promise<CalendarBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    // The app's pool gets as many connections as the baseline's.
    const appEnv = { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(THROUGHPUT.clients) }
    const service = replaceOverHttp(await startApp(appEnv, cleanup))
    const baseline = await startBaseline(databaseUrl, THROUGHPUT.clients, cleanup)

    const rss = sampleRss(50)
    const rates = await compareThroughput(databaseUrl, { service, baseline }, THROUGHPUT)
    const throughputRss = rss.stop()
    const throughputRatio = rates.service / rates.baseline

    const small = { ...PER_ROW.small, msPerRow: await measurePerRow(service, PER_ROW.small) }
    const large = { ...PER_ROW.large, msPerRow: await measurePerRow(service, PER_ROW.large) }
    const perRowRatio = large.msPerRow / small.msPerRow

    return {
      throughput: {
        ...THROUGHPUT,
        service: rates.service,
        baseline: rates.baseline,
        ratio: throughputRatio,
        goalMet: throughputRatio >= THROUGHPUT_RATIO_GOAL,
      },
      perRow: {
        small,
        large,
        ratio: perRowRatio,
        // The goal is "no per-row round trips": a large set may cost less per row (fixed costs spread).
        goalMet: perRowRatio <= PER_ROW_RATIO_GOAL,
      },
      memory: {
        peakRssMb: megabytes(process.resourceUsage().maxRSS * 1024),
        throughputRssMb: megabytes(throughputRss),
      },
    }
  })
}

/** The figures as a table, one line per measure, saying whether each goal is met. */
export function formatCalendarBench({ throughput, perRow, memory }: CalendarBenchFigures): string {
  const goal = (met: boolean) => (met ? 'met' : 'MISSED')
  const { small, large } = perRow
  return [
    `calendar bench: ${throughput.clients} clients, ${throughput.users} users, ${throughput.setSize} ` +
      `calendars per replace (half kept, half rotated), ${throughput.durationMs / 1000} s per side ` +
      `in ${throughput.rounds} alternating rounds`,
    `calendar PUT throughput   service ${throughput.service.toFixed(0)} req/s   ` +
      `baseline ${throughput.baseline.toFixed(0)} req/s   ratio ${throughput.ratio.toFixed(2)}   ` +
      `goal >= ${THROUGHPUT_RATIO_GOAL}: ${goal(throughput.goalMet)}`,
    `per-row replace time      ${small.calendars} calendars ${small.msPerRow.toFixed(4)} ms/row   ` +
      `${large.calendars} calendars ${large.msPerRow.toFixed(4)} ms/row   ` +
      `ratio ${large.calendars}/${small.calendars} ${perRow.ratio.toFixed(2)}   ` +
      `goal within ${PER_ROW_RATIO_GOAL}x: ${goal(perRow.goalMet)}`,
    `  (each: median of ${small.runs}/${large.runs} runs of a fresh user's second replace, half kept, ` +
      'half rotated; client-side time over HTTP)',
    `peak RSS, bench process   ${memory.peakRssMb.toFixed(0)} MB   ` +
      `during throughput ${memory.throughputRssMb.toFixed(0)} MB   ` +
      '(app, HTTP clients, baseline and 10,000-calendar sets in one process)',
  ].join('\n')
}
