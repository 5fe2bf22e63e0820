/**
 * Where the calendar PUT's CPU goes in the service (issue 21): the built server, under its production
 * heap limits and `--cpu-prof`, replaces 20-calendar sets (half kept, half rotated, as the calendar bench)
 * from 16 keep-alive clients for PROFILE_SECONDS (default 8), then stops on SIGTERM, which writes the
 * profile. Prints the share of samples by where their code lives (the app, each package, Node, GC, idle)
 * and the hottest functions, and leaves the .cpuprofile in PROFILE_DIR (default a temporary directory)
 * for Chrome DevTools. Only the samples of the measured load count (not the start, the warm-up or the
 * shutdown). V8 samples on wall-clock time: a sample lands in a function while the process runs it or
 * waits inside it, so a write to a loopback socket (`writev`) that wakes the receiver on a busy core is
 * charged for the time the process was preempted there, which is not CPU time; bench/cpu-per-request.ts
 * measures the CPU. Run: npm run build && npx tsx bench/cpu-profile.ts
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer } from '../test/helpers/server-process.ts'
import { createBenchDatabase } from './database.ts'
import { type CallFrame, callFrameName, withCleanup } from './lib.ts'
import { measureRate, runCalls } from './load.ts'
import { BENCH_AUTH, BenchClient, productionNodeFlags, replaceOverHttp } from './service.ts'
import { RotatingSets } from './workload.ts'

const CLIENTS = 16
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8)

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  /** Microseconds between samples; the first from startTime, which is when the server process started. */
  timeDeltas: number[]
  startTime: number
}

const dir = process.env.PROFILE_DIR ?? (await mkdtemp(join(tmpdir(), 'rostersync-profile-')))

/** The measured load, in milliseconds since the server process was spawned. */
const window = { from: 0, to: 0 }

const rate = await withCleanup(async (cleanup) => {
  const databaseUrl = await createBenchDatabase(cleanup)
  const spawned = performance.now()
  const server = await startServer(
    cleanup,
    {
      ...BENCH_AUTH,
      LOG_LEVEL: 'warn',
      SYNC_WORKER: 'off',
      DATABASE_URL: databaseUrl,
      DB_POOL_MAX: String(CLIENTS),
    },
    { built: true, nodeArgs: [...productionNodeFlags(), '--cpu-prof', `--cpu-prof-dir=${dir}`] },
  )
  await server.ready()
  const client = new BenchClient(server.url, CLIENTS, cleanup)
  const next = new RotatingSets('profile', 200, 20).calls(replaceOverHttp(client))
  await runCalls(next, CLIENTS, 600)
  window.from = performance.now() - spawned
  const measured = await measureRate(next, CLIENTS, SECONDS * 1000)
  window.to = performance.now() - spawned
  server.kill('SIGTERM')
  await server.exitCode(20_000)
  return measured.calls / measured.seconds
})

const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'))
if (!file) throw new Error(`no profile in ${dir}`)
const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const where = (node: ProfileNode): string => {
  const { url, functionName } = node.callFrame
  if (!url) return functionName.startsWith('(') ? functionName : `native ${functionName || '(anonymous)'}`
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1]
  if (pkg) return pkg
  if (url.startsWith('node:')) return 'node'
  if (url.includes('/src/generated/')) return 'prisma generated client'
  return 'app'
}
const share = new Map<string, number>()
const functions = new Map<string, number>()
// The process starts a little after it is spawned, so the window may start and end up to that much late.
let at = profile.startTime
const from = profile.startTime + window.from * 1000
const to = profile.startTime + window.to * 1000
for (const [i, id] of profile.samples.entries()) {
  at += profile.timeDeltas[i] ?? 0
  if (at < from || at > to) continue
  const node = byId.get(id)
  if (!node) continue
  const place = where(node)
  share.set(place, (share.get(place) ?? 0) + 1)
  const name = callFrameName(node.callFrame)
  functions.set(name, (functions.get(name) ?? 0) + 1)
}
const total = [...share.values()].reduce((sum, n) => sum + n, 0)
const busy = total - (share.get('(idle)') ?? 0)
const percent = (n: number) => `${((100 * n) / busy).toFixed(1)}%`.padStart(6)
console.log(
  `${rate.toFixed(0)} req/s while profiled; ${busy} of ${total} samples of the measured load busy; shares of busy samples:`,
)
for (const [place, n] of [...share]
  .filter(([p]) => p !== '(idle)')
  .sort((a, b) => b[1] - a[1])
  .slice(0, 20)) {
  console.log(`${percent(n)}  ${place}`)
}
console.log('hottest functions (self time):')
for (const [name, n] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${percent(n)}  ${name}`)
console.log(`profile: ${join(dir, file)}`)
