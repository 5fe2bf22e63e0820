import { vacuum } from './database.ts'
import { measureRate, warmUpInterleaved } from './load.ts'

export interface ThroughputOptions {
  clients: number
  /** Replaces per contender before measuring, interleaved (warmUpInterleaved): enough for every user to have a set. */
  warmupCalls: number
  /**
   * Rounds of slices run as the timed ones, before them, and not counted. A contender is not at its
   * steady rate after its warm-up calls: in four timed rounds after 600 calls (2 s slices), the service
   * ran at about 400, 500, 650, 700 req/s and the baseline at 900, 1,000, 1,100, 1,100 calls/s, in
   * three runs out of three (the server's code still being optimized, the tables settling), so the
   * first rounds weighed on whichever contender warms more slowly. From the third round on both hold.
   */
  warmupRounds: number
  /** Measured time per contender, split into `rounds` slices. */
  durationMs: number
  rounds: number
}

/**
 * Calls per second of each contender (a function making its next call: a replace of its own next
 * set), from `clients` concurrent clients. Contenders take turns in short slices, in ABBA order, so a
 * machine whose speed drifts during the run slows them alike; each slice starts after a VACUUM. The
 * first `warmupRounds` rounds are run the same way and not counted.
 */
export async function compareThroughput<Name extends string>(
  databaseUrl: string,
  contenders: Record<Name, () => Promise<void>>,
  options: ThroughputOptions,
): Promise<Record<Name, number>> {
  const sides = (Object.keys(contenders) as Name[]).map((name) => {
    return { name, replaceNext: contenders[name], calls: 0, seconds: 0 }
  })
  await warmUpInterleaved(
    sides.map((side) => side.replaceNext),
    options.clients,
    options.warmupCalls,
  )
  for (let round = 0; round < options.warmupRounds + options.rounds; round++) {
    for (const side of round % 2 === 0 ? sides : sides.toReversed()) {
      await vacuum(databaseUrl)
      const slice = await measureRate(side.replaceNext, options.clients, options.durationMs / options.rounds)
      if (round < options.warmupRounds) continue
      side.calls += slice.calls
      side.seconds += slice.seconds
    }
  }
  const rates = sides.map((side) => [side.name, side.calls / side.seconds])
  return Object.fromEntries(rates) as Record<Name, number>
}
