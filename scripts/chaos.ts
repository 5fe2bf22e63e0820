/**
 * npm run chaos: the fault-injection suite at full length (test/chaos/chaos.test.ts runs a short one
 * inside npm test). Starts CHAOS_SERVERS real server processes on a fresh database (DATABASE_URL's
 * server, or a throwaway embedded PostgreSQL), drives them for CHAOS_DURATION_MS while injecting
 * faults, checks every invariant against the recorded history, prints the report and exits 1 on any
 * violation. The history is written to CHAOS_HISTORY (default: a file in the temporary directory).
 * CHAOS_AUTONOMOUS=1: clients never ask for a sync, and every crew call must reach in-sync on its own.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { runChaosOnFreshDatabase } from '../bench/chaos-bench.ts'
import { formatChaosReport } from '../test/chaos/report.ts'

const env = z
  .object({
    CHAOS_SERVERS: z.coerce.number().int().min(2).max(3).default(3),
    CHAOS_DURATION_MS: z.coerce.number().int().min(1_000).default(60_000),
    CHAOS_CLIENTS: z.coerce.number().int().min(1).max(256).default(16),
    CHAOS_SEED: z.coerce
      .number()
      .int()
      .min(0)
      .default(() => Date.now() % 2 ** 31),
    CHAOS_HISTORY: z.string().min(1).optional(),
    /** 1: clients never ask for a sync; the servers' workers must converge on their own. */
    CHAOS_AUTONOMOUS: z.enum(['0', '1']).default('0'),
  })
  .parse(Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')))

const report = await runChaosOnFreshDatabase({
  servers: env.CHAOS_SERVERS,
  durationMs: env.CHAOS_DURATION_MS,
  clients: env.CHAOS_CLIENTS,
  seed: env.CHAOS_SEED,
  autonomous: env.CHAOS_AUTONOMOUS === '1',
  historyFile: env.CHAOS_HISTORY ?? join(tmpdir(), `rostersync-chaos-${env.CHAOS_SEED}.jsonl`),
})
console.log(formatChaosReport(report))
console.log(`history: ${report.options.historyFile}`)
process.exit(report.violations.length === 0 ? 0 : 1)
