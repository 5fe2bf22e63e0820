/**
 * Where the CPU of a calendar PUT goes (issue 21), against the same replace over pg: the built server,
 * under its production heap limits, replaces 20-calendar sets (half kept, half rotated, as the calendar
 * bench) from 16 keep-alive clients, then the baseline (bench/baseline.ts) makes as many calls; for each
 * side, the CPU time (user + system, from /proc) per request of the server process, of PostgreSQL (the
 * postmaster and every process it started) and of this process (the client: undici, or pg for the
 * baseline), over CPU_REQUESTS requests (default 4000) in CPU_ROUNDS rounds (default 3). CPU per
 * request is far less sensitive to other load on the machine than throughput, though a busy machine
 * still raises it a little (caches, context switches). With CPU_NODE_ARGS=--trace-gc it also counts
 * the server's scavenges (young-generation collections: a measure of what a request allocates).
 * Linux only. Run: npm run build && npx tsx bench/cpu-per-request.ts
 */
import { loadavg } from 'node:os'
import { startBaseline } from './baseline.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'
import { runCalls } from './load.ts'
import { postgresCpu, postmasterOf, processStat, usedSince } from './process-cpu.ts'
import { BenchClient, replaceOverHttp, startServiceProcess } from './service.ts'
import { RotatingSets } from './workload.ts'

const CLIENTS = 16
const REQUESTS = Number(process.env.CPU_REQUESTS ?? 4000)
const ROUNDS = Number(process.env.CPU_ROUNDS ?? 3)

interface Side {
  perSecond: number
  /** CPU ms per request of the server process, PostgreSQL and the client (this process). */
  server: number
  postgres: number
  client: number
}

const figures = await withCleanup(async (cleanup) => {
  const databaseUrl = await createBenchDatabase(cleanup)
  const extraArgs = (process.env.CPU_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
  const server = await startServiceProcess(
    { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(CLIENTS) },
    cleanup,
    extraArgs,
  )
  const postmaster = await postmasterOf(databaseUrl)
  const client = new BenchClient(server.url, CLIENTS, cleanup)
  const service = new RotatingSets('cpu', 200, 20).calls(replaceOverHttp(client))
  const callBaseline = await startBaseline(databaseUrl, CLIENTS, cleanup)
  const baselineSets = new RotatingSets('cpu-baseline', 200, 20)
  const baseline = () => {
    const { userId, calendars } = baselineSets.next()
    return callBaseline(userId, calendars)
  }
  await runCalls(service, CLIENTS, 1000)
  await runCalls(baseline, CLIENTS, 1000)
  const scavenges = () => server.output().split('Scavenge').length - 1

  const measure = async (operation: () => Promise<void>): Promise<Side> => {
    const serverBefore = (await processStat(server.pid))?.cpuMs ?? 0
    const postgresBefore = await postgresCpu(postmaster)
    const clientBefore = process.cpuUsage()
    const started = performance.now()
    await runCalls(operation, CLIENTS, REQUESTS)
    const seconds = (performance.now() - started) / 1000
    const clientUsed = process.cpuUsage(clientBefore)
    const serverUsed = ((await processStat(server.pid))?.cpuMs ?? 0) - serverBefore
    const postgresUsed = usedSince(postgresBefore, await postgresCpu(postmaster))
    return {
      perSecond: REQUESTS / seconds,
      server: serverUsed / REQUESTS,
      postgres: postgresUsed / REQUESTS,
      client: (clientUsed.user + clientUsed.system) / 1000 / REQUESTS,
    }
  }
  const rounds: { service: Side; baseline: Side; load: number; scavengesPer1000: number }[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const scavengesBefore = scavenges()
    const serviceSide = await measure(service)
    const scavengesPer1000 = ((scavenges() - scavengesBefore) / REQUESTS) * 1000
    const baselineSide = await measure(baseline)
    rounds.push({ service: serviceSide, baseline: baselineSide, load: loadavg()[0] ?? 0, scavengesPer1000 })
  }
  return rounds
})

const ms = (value: number) => value.toFixed(3)
const account = (side: Side) =>
  `server ${ms(side.server)} + PostgreSQL ${ms(side.postgres)} + client ${ms(side.client)} = ` +
  `${ms(side.server + side.postgres + side.client)} ms CPU/request, ${side.perSecond.toFixed(0)}/s`
for (const [i, round] of figures.entries()) {
  console.log(
    `round ${i + 1} (load average ${round.load.toFixed(2)}): service ${account(round.service)}` +
      (round.scavengesPer1000 ? ` (${round.scavengesPer1000.toFixed(1)} scavenges per 1000 requests)` : ''),
  )
  console.log(
    `  baseline ${account(round.baseline)}; throughput ratio ${(round.service.perSecond / round.baseline.perSecond).toFixed(2)}`,
  )
}
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
console.log(
  `median server CPU ${ms(median(figures.map((round) => round.service.server)))} ms/request; ` +
    `median CPU per request, service ${ms(median(figures.map(({ service: s }) => s.server + s.postgres + s.client)))}` +
    ` vs baseline ${ms(median(figures.map(({ baseline: b }) => b.server + b.postgres + b.client)))}`,
)
