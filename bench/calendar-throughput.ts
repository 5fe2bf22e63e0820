import { vacuum } from './database.ts'
import { measureRate, runCalls } from './load.ts'

export interface ThroughputOptions {
  clients: number
  /** Replaces per contender before measuring: enough for every user to have a set. */
  warmupCalls: number
  /** Measured time per contender, split into `rounds` slices. */
  durationMs: number
  rounds: number
}

/**
 * Calls per second of each contender (a function making its next call: a replace of its own next
 * set), from `clients` concurrent clients. Contenders take turns in short slices, in ABBA order, so a
 * machine whose speed drifts during the run slows them alike; each slice starts after a VACUUM.
 */
export async function compareThroughput<Name extends string>(
  databaseUrl: string,
  contenders: Record<Name, () => Promise<void>>,
  options: ThroughputOptions,
): Promise<Record<Name, number>> {
  const sides = (Object.keys(contenders) as Name[]).map((name) => {
    return { name, replaceNext: contenders[name], calls: 0, seconds: 0 }
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
