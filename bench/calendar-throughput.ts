import { vacuum } from './database.ts'
import { measureRate, runCalls } from './load.ts'
import { type ReplaceCalendars, RotatingSets } from './workload.ts'

export interface ThroughputOptions {
  clients: number
  users: number
  setSize: number
  /** Replaces per contender before measuring: enough for every user to have a set. */
  warmupCalls: number
  /** Measured time per contender, split into `rounds` slices. */
  durationMs: number
  rounds: number
}

/**
 * Replaces per second of each contender, from `clients` concurrent clients round-robin over `users`
 * users of its own (named after the contender), each replace keeping half of the user's previous set
 * and rotating the other half. Contenders take turns in short slices, in ABBA order, so a machine
 * whose speed drifts during the run slows them alike; each slice starts after a VACUUM.
 */
export async function compareThroughput<Name extends string>(
  databaseUrl: string,
  contenders: Record<Name, ReplaceCalendars>,
  options: ThroughputOptions,
): Promise<Record<Name, number>> {
  const sides = (Object.keys(contenders) as Name[]).map((name) => {
    const sets = new RotatingSets(name, options.users, options.setSize)
    const replaceNext = () => {
      const { userId, calendars } = sets.next()
      return contenders[name](userId, calendars)
    }
    return { name, replaceNext, calls: 0, seconds: 0 }
  })
  for (const side of sides) await runCalls(side.replaceNext, options.clients, options.warmupCalls)
  for (let round = 0; round < options.rounds; round++) {
    for (const side of round % 2 === 0 ? sides : sides.toReversed()) {
      await vacuum(databaseUrl)
      const slice = await measureRate(side.replaceNext, options.clients, options.durationMs / options.rounds)
      side.calls += slice.calls
      side.seconds += slice.seconds
    }
  }
  const rates = sides.map((side) => [side.name, side.calls / side.seconds])
  return Object.fromEntries(rates) as Record<Name, number>
}
