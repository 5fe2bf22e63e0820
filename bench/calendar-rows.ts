import { median } from './lib.ts'
import { calendarGeneration, type ReplaceCalendars } from './workload.ts'

/**
 * Milliseconds per calendar of one replace of `calendars` calendars, the median of `runs`. Each run
 * takes a fresh user, creates its set, then times the second replace: half kept, half rotated
 * (calendars/2 deleted, created and unchanged). The time is the client's, from request to whole response.
 */
export async function measurePerRow(
  replace: ReplaceCalendars,
  { calendars, runs }: { calendars: number; runs: number },
): Promise<number> {
  const times: number[] = []
  for (let run = 0; run < runs; run++) {
    const userId = `rows-${calendars}-${run}`
    await replace(userId, calendarGeneration(0, calendars))
    const rotated = calendarGeneration(1, calendars)
    const started = performance.now()
    await replace(userId, rotated)
    times.push(performance.now() - started)
  }
  return median(times) / calendars
}
