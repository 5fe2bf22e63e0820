import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ChaosOptions, type ChaosReport, runChaos } from '../test/chaos/run-chaos.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'

/** The chaos round `npm run bench` reports: three servers, 20 s of load and faults, a fixed seed. */
export const BENCH_CHAOS: ChaosOptions = {
  servers: 3,
  durationMs: 20_000,
  clients: 16,
  seed: 20261201,
  historyFile: join(tmpdir(), 'rostersync-bench-chaos.jsonl'),
}

/**
 * The chaos suite (test/chaos/run-chaos.ts) on a fresh database of its own (DATABASE_URL's server, or
 * a throwaway embedded PostgreSQL), everything stopped and dropped afterwards.
 */
export function runChaosOnFreshDatabase(options: ChaosOptions): Promise<ChaosReport> {
  return withCleanup(async (cleanup) => runChaos(cleanup, await createBenchDatabase(cleanup), options))
}
