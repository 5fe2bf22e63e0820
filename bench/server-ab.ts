/**
 * Two built servers side by side on one database, their calendar PUT throughput compared the way the
 * calendar bench compares the service with its baseline (compareThroughput: interleaved warm-up, two
 * untimed rounds, ABBA slices). Each server gets its own Node flags after the production ones:
 * SERVER_A_NODE_ARGS and SERVER_B_NODE_ARGS (space-separated; none by default). With neither set it is an
 * A/A run, which checks the bench itself: two identical servers come out within a few percent, the one
 * listed second a little ahead (docs/performance.md, how a throughput ratio is measured). AB_RUNS
 * (default 1) runs it again on a fresh database, with A and B swapped every other run, so a bias of the
 * order cannot pass for an effect of the flags. Run: npx tsx bench/server-ab.ts
 */
import { CALENDAR_THROUGHPUT } from './calendar-bench.ts'
import { compareThroughput } from './calendar-throughput.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'
import { BenchClient, replaceOverHttp, startServiceProcess } from './service.ts'
import { RotatingSets } from './workload.ts'

// The calendar bench's workload, timed longer (12 s per side) to tell a few percent apart.
const THROUGHPUT = { ...CALENDAR_THROUGHPUT, durationMs: 12_000, rounds: 6 }
const RUNS = Number(process.env.AB_RUNS ?? 1)
const nodeArgs = (variable: string) => (process.env[variable] ?? '').split(/\s+/).filter(Boolean)
const servers = { A: nodeArgs('SERVER_A_NODE_ARGS'), B: nodeArgs('SERVER_B_NODE_ARGS') }

/** Calendar PUTs per second of each server, the two listed in `order`. */
function compare(order: ('A' | 'B')[]): Promise<Record<'A' | 'B', number>> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    const contenders: Partial<Record<'A' | 'B', () => Promise<void>>> = {}
    for (const name of order) {
      const env = { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(THROUGHPUT.clients) }
      const server = await startServiceProcess(env, cleanup, servers[name])
      const client = new BenchClient(server.url, THROUGHPUT.clients, cleanup)
      contenders[name] = new RotatingSets(name, THROUGHPUT.users, THROUGHPUT.setSize).calls(
        replaceOverHttp(client),
      )
    }
    return compareThroughput(databaseUrl, contenders as Record<'A' | 'B', () => Promise<void>>, THROUGHPUT)
  })
}

console.log(
  `server A/B: calendar PUT, ${THROUGHPUT.clients} clients, ${THROUGHPUT.users} users, ${THROUGHPUT.setSize} calendars ` +
    `per replace, ${THROUGHPUT.durationMs / 1000} s per side in ${THROUGHPUT.rounds} rounds after ${THROUGHPUT.warmupRounds} untimed; ` +
    `A: ${servers.A.join(' ') || 'production flags'}; B: ${servers.B.join(' ') || 'production flags'}`,
)
for (let run = 0; run < RUNS; run++) {
  const order: ('A' | 'B')[] = run % 2 === 0 ? ['A', 'B'] : ['B', 'A']
  const rates = await compare(order)
  console.log(
    `run ${run + 1} (${order.join(' listed before ')}): A ${rates.A.toFixed(0)} req/s   B ${rates.B.toFixed(0)} req/s   B/A ${(rates.B / rates.A).toFixed(3)}`,
  )
}
