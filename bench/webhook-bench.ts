import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { withClient } from '../test/helpers/database.ts'
import { createBenchDatabase, vacuum } from './database.ts'
import { type Cleanup, withCleanup } from './lib.ts'
import { measureRate, runCalls } from './load.ts'
import { BenchClient, calendarsPath, startServiceProcess, subscribeWebhookEndpoint } from './service.ts'
import { calendarGeneration } from './workload.ts'

const CLIENTS = 8
const USERS = 200
const SET_SIZE = 10
const DURATION_MS = 12_000
const ROUNDS = 4
const LATENCY_SAMPLES = 300
const LATENCY_CLIENTS = 4

export interface WebhookBenchFigures {
  /**
   * Calendar PUTs per second with no endpoint, and with one subscribed endpoint taking every event (its
   * worker delivering as the PUTs go). The backlog a subscribed slice leaves is drained before the next
   * slice, outside the timed slices, so it never runs while the other side is timed.
   */
  noEndpointPerSecond: number
  subscribedPerSecond: number
  ratio: number
  /**
   * Events delivered per second to the one endpoint, sustained: the subscribed slices' events over the
   * slices' time plus the time their backlog took to drain (WEBHOOK_ENDPOINT_CONCURRENCY, default 8).
   */
  deliveredPerSecond: number
  /** From a PUT's answer to the receiver getting its event, one endpoint, 4 clients putting. */
  latency: { samples: number; p50Ms: number; p99Ms: number; maxMs: number }
}

/** A receiver answering 204 at once; `arrived` says when each calendar-set version came in. */
async function startReceiver(cleanup: Cleanup) {
  const arrived = new Map<string, number>()
  const waiting = new Map<string, () => void>()
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const at = performance.now()
      const { data } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        data: { userId: string; version: number }
      }
      const key = `${data.userId}:${data.version}`
      if (!arrived.has(key)) arrived.set(key, at)
      waiting.get(key)?.()
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanup.add(() => new Promise((resolve) => server.close(resolve)))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    /** Resolves with the arrival time of `key`'s event. */
    arrival(key: string): Promise<number> {
      const at = arrived.get(key)
      if (at !== undefined) return Promise.resolve(at)
      return new Promise((resolve) => waiting.set(key, () => resolve(arrived.get(key) as number)))
    },
  }
}

/**
 * One service: the built server in a process of its own, under its production flags, as the other
 * benches run it (its delivery worker on, as by default), with undici's keep-alive pool as its client.
 */
async function startService(cleanup: Cleanup) {
  const databaseUrl = await createBenchDatabase(cleanup)
  const server = await startServiceProcess(
    { DATABASE_URL: databaseUrl, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_POLL_MS: '250' },
    cleanup,
  )
  const client = new BenchClient(server.url, CLIENTS, cleanup)
  const subscribe = (url: string) => subscribeWebhookEndpoint(server.url, url)
  let generation = 0
  /** The next user's next set: always a change, so every PUT makes a version (and, subscribed, an event). */
  const putNext = async () => {
    const n = generation++
    const userId = `u${n % USERS}`
    const answer = await client.put(calendarsPath(userId), { calendars: calendarGeneration(n, SET_SIZE) })
    if (answer.status !== 200) throw new Error(`PUT ${userId}: HTTP ${answer.status} ${answer.body}`)
    return { userId, version: (JSON.parse(answer.body) as { version: number }).version }
  }
  return { databaseUrl, subscribe, putNext }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number

/**
 * Calendar PUT throughput of two services (built servers, each in its own process) on two databases,
 * one with a subscribed endpoint (its delivery worker sending to a local receiver in this process as it
 * goes) and one without, in ABBA slices; then the
 * latency from a PUT's answer to the receiver, with the default poll (WEBHOOK_POLL_MS 250: an idle
 * worker is woken by nothing else).
 */
export function runWebhookBench(): Promise<WebhookBenchFigures> {
  return withCleanup(async (cleanup) => {
    const receiver = await startReceiver(cleanup)
    const none = await startService(cleanup)
    const subscribed = await startService(cleanup)
    await subscribed.subscribe(receiver.url)
    const pending = () =>
      withClient(subscribed.databaseUrl, async (client) => {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`,
        )
        return rows[0]?.n ?? 0
      })
    /** Seconds until the subscribed side has delivered every event so far. */
    const drain = async () => {
      const started = performance.now()
      while ((await pending()) > 0) await new Promise((resolve) => setTimeout(resolve, 50))
      return (performance.now() - started) / 1000
    }
    const sides = [
      { name: 'none', service: none, calls: 0, seconds: 0, drained: 0 },
      { name: 'subscribed', service: subscribed, calls: 0, seconds: 0, drained: 0 },
    ]
    for (const side of sides)
      await runCalls(async () => void (await side.service.putNext()), CLIENTS, USERS * 2)
    await drain()
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 === 0 ? sides : sides.toReversed()) {
        await vacuum(side.service.databaseUrl)
        const rate = await measureRate(
          async () => void (await side.service.putNext()),
          CLIENTS,
          DURATION_MS / ROUNDS,
        )
        side.calls += rate.calls
        side.seconds += rate.seconds
        if (side.service === subscribed) side.drained += await drain()
      }
    }
    const [noneRate, subscribedRate] = sides.map((side) => side.calls / side.seconds) as [number, number]
    // Latency is timed on an idle queue: every slice's backlog was drained.
    const latencies: number[] = []
    await runCalls(
      async () => {
        const answer = await subscribed.putNext()
        const answeredAt = performance.now()
        latencies.push((await receiver.arrival(`${answer.userId}:${answer.version}`)) - answeredAt)
      },
      LATENCY_CLIENTS,
      LATENCY_SAMPLES,
    )
    const sorted = latencies.map((ms) => Math.max(0, ms)).sort((a, b) => a - b)
    return {
      noEndpointPerSecond: noneRate,
      subscribedPerSecond: subscribedRate,
      ratio: subscribedRate / noneRate,
      deliveredPerSecond: (sides[1]?.calls ?? 0) / ((sides[1]?.seconds ?? 0) + (sides[1]?.drained ?? 0) || 1),
      latency: {
        samples: sorted.length,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        maxMs: sorted.at(-1) ?? 0,
      },
    }
  })
}

export function formatWebhookBench(f: WebhookBenchFigures): string {
  return [
    'Webhooks (calendar PUTs to built servers in their own processes, 8 clients, sets of 10; one endpoint taking every event vs none)',
    `  PUT/s without endpoint   ${f.noEndpointPerSecond.toFixed(1)}`,
    `  PUT/s one endpoint       ${f.subscribedPerSecond.toFixed(1)}   ratio ${f.ratio.toFixed(2)}   goal >= 0.9: ${f.ratio >= 0.9 ? 'met' : 'MISSED'} (${ROUNDS} alternating rounds, same run)`,
    `  delivered to the endpoint ${f.deliveredPerSecond.toFixed(1)} events/s sustained (the subscribed slices' events over their time plus their backlog's drain)`,
    `  PUT answer -> receiver   p50 ${f.latency.p50Ms.toFixed(0)} ms, p99 ${f.latency.p99Ms.toFixed(0)} ms, max ${f.latency.maxMs.toFixed(0)} ms (${f.latency.samples} PUTs, 4 clients)`,
    '',
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(formatWebhookBench(await runWebhookBench()))
