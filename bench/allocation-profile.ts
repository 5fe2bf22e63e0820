/**
 * What a calendar PUT allocates in the service (issue 21): the built server, under its production heap
 * limits and with the inspector on a loopback port, replaces 20-calendar sets (half kept, half rotated,
 * as the calendar bench) from 16 keep-alive clients; after a warm-up, V8's sampling heap profiler runs
 * over ALLOC_REQUESTS requests (default 3000) keeping the objects collected meanwhile (young and old
 * generation), so what it shows is what a request allocates, not what it keeps. Prints the bytes per
 * request in all, and by function where they were allocated (self) and through which they were
 * (inclusive). What a request allocates is what the young generation's collections cost: fewer bytes,
 * fewer scavenges. The sample is statistical (one every ALLOC_SAMPLING_BYTES, default 1024) but hardly
 * depends on the machine's load. Run: npx tsx bench/allocation-profile.ts
 */
import { WebSocket } from 'undici'
import { createBenchDatabase } from './database.ts'
import { type CallFrame, callFrameName, withCleanup } from './lib.ts'
import { runCalls } from './load.ts'
import { BenchClient, replaceOverHttp, startServiceProcess } from './service.ts'
import { RotatingSets } from './workload.ts'

const CLIENTS = 16
const WARMUP_REQUESTS = 2000
const REQUESTS = Number(process.env.ALLOC_REQUESTS ?? 3000)
const SAMPLING_BYTES = Number(process.env.ALLOC_SAMPLING_BYTES ?? 1024)
const INSPECTOR_PORT = Number(process.env.ALLOC_INSPECTOR_PORT ?? 9339)

interface SamplingNode {
  callFrame: CallFrame
  selfSize: number
  children: SamplingNode[]
}

/** A DevTools protocol session with the server process, over its inspector's WebSocket. */
async function inspectorSession(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string
  }[]
  const target = targets[0]
  if (!target) throw new Error(`no inspector target on port ${port}`)
  const socket = new WebSocket(target.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve)
    socket.addEventListener('error', reject)
  })
  let lastId = 0
  const answers = new Map<number, (result: unknown) => void>()
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown }
    if (message.id === undefined) return
    answers.get(message.id)?.(message.result)
    answers.delete(message.id)
  })
  return {
    send<T>(method: string, params: object = {}): Promise<T> {
      const id = ++lastId
      return new Promise<T>((resolve) => {
        answers.set(id, resolve as (result: unknown) => void)
        socket.send(JSON.stringify({ id, method, params }))
      })
    },
    /** Resolves once the session is gone: a server with a session open waits for it before exiting. */
    close: () =>
      new Promise<void>((resolve) => {
        socket.addEventListener('close', () => resolve())
        socket.close()
      }),
  }
}

await withCleanup(async (cleanup) => {
  const databaseUrl = await createBenchDatabase(cleanup)
  const server = await startServiceProcess(
    { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(CLIENTS) },
    cleanup,
    [`--inspect=127.0.0.1:${INSPECTOR_PORT}`],
  )
  const client = new BenchClient(server.url, CLIENTS, cleanup)
  const next = new RotatingSets('alloc', 200, 20).calls(replaceOverHttp(client))
  await runCalls(next, CLIENTS, WARMUP_REQUESTS)

  const session = await inspectorSession(INSPECTOR_PORT)
  cleanup.add(() => session.close())
  await session.send('HeapProfiler.enable')
  await session.send('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_BYTES,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
  await runCalls(next, CLIENTS, REQUESTS)
  const { profile } = await session.send<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling')

  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let all = 0
  const walk = (node: SamplingNode, callers: Set<string>) => {
    const name = callFrameName(node.callFrame)
    all += node.selfSize
    self.set(name, (self.get(name) ?? 0) + node.selfSize)
    const stack = new Set(callers).add(name)
    for (const frame of stack) inclusive.set(frame, (inclusive.get(frame) ?? 0) + node.selfSize)
    for (const child of node.children) walk(child, stack)
  }
  walk(profile.head, new Set())
  const perRequest = (bytes: number) => `${(bytes / REQUESTS / 1024).toFixed(2).padStart(6)} KB`
  const top = (sizes: Map<string, number>, count: number) =>
    [...sizes]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, bytes]) => `${perRequest(bytes)}  ${name}`)
  console.log(
    [
      `allocated per request: ${perRequest(all).trim()} (${REQUESTS} requests from ${CLIENTS} clients, sampled every ${SAMPLING_BYTES} bytes)`,
      'where (self):',
      ...top(self, 25),
      'through (inclusive):',
      ...top(inclusive, 30),
    ].join('\n'),
  )
})
