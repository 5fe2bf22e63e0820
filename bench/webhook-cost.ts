/**
 * What one webhook delivery costs, in CPU time per process, beside what the PUT that made its event
 * costs (issue 19). One database, two built servers in their own processes: an API instance
 * (WEBHOOK_WORKER off) takes calendar PUTs (8 clients, sets of 10, every PUT a new version, one endpoint
 * subscribed) while nothing is delivered; then a worker instance (no requests) delivers the whole backlog
 * to a receiver in this process. Each phase is timed alone, and each process's CPU (user + system, from
 * /proc) is read around it:
 * - a PUT: the API instance, PostgreSQL (every process of its server: backends, WAL writer,
 *   autovacuum, which a VACUUM before each phase leaves
 *   little to do), this process as the client;
 * - a delivery: the worker instance, PostgreSQL, this process as the receiver (answering 204).
 * On one machine that runs all of them, PUT throughput while every event is delivered as it is made is at
 * most (PUT's CPU) / (PUT's CPU + delivery's CPU) of the throughput without webhooks: that bound is
 * printed. Only with the server on this machine (embedded PostgreSQL, or DATABASE_URL on localhost).
 * Run: npx tsx bench/webhook-cost.ts (npm run bench runs it too).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { withClient } from '../test/helpers/database.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'
import { runCalls } from './load.ts'
import { ownCpuMs, postgresCpu, postmasterOf, processStat, usedSince } from './process-cpu.ts'
import { BenchClient, calendarsPath, startServiceProcess, subscribeWebhookEndpoint } from './service.ts'
import { calendarGeneration } from './workload.ts'

const EVENTS = Number(process.env.WEBHOOK_COST_EVENTS ?? 4_000)
const CLIENTS = 8
const USERS = 200
const SET_SIZE = 10

export interface CpuPerCall {
  service: number
  postgres: number
  /** This process: the client of the PUTs, the receiver of the deliveries. */
  bench: number
}

export interface WebhookCostFigures {
  events: number
  put: CpuPerCall
  delivery: CpuPerCall
  deliveredPerSecond: number
  /** PUT's CPU / (PUT's CPU + delivery's CPU). */
  bound: number
}

const total = (cpu: CpuPerCall) => cpu.service + cpu.postgres + cpu.bench

export function runWebhookCostBench(): Promise<WebhookCostFigures> {
  return withCleanup(async (cleanup) => {
    let received = 0
    const receiver = createServer((request, response) => {
      request.resume()
      request.on('end', () => {
        received++
        response.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    cleanup.add(() => new Promise<void>((resolve) => receiver.close(() => resolve())))
    const databaseUrl = await createBenchDatabase(cleanup)
    const postmaster = await postmasterOf(databaseUrl)
    const cpuMs = async (pid: number) => (await processStat(pid))?.cpuMs ?? 0
    const api = await startServiceProcess(
      { DATABASE_URL: databaseUrl, WEBHOOK_WORKER: 'off', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
      cleanup,
    )
    await subscribeWebhookEndpoint(
      api.url,
      `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
    )
    const client = new BenchClient(api.url, CLIENTS, cleanup)
    let generation = 0
    const put = async () => {
      const n = generation++
      const answer = await client.put(calendarsPath(`u${n % USERS}`), {
        calendars: calendarGeneration(n, SET_SIZE),
      })
      if (answer.status !== 200) throw new Error(`PUT: HTTP ${answer.status} ${answer.body}`)
    }
    // Warm-up: every user has a set, the JIT has seen the path; these events are delivered too.
    await runCalls(put, CLIENTS, USERS)
    const warmEvents = generation

    // Autovacuum would otherwise do an earlier phase's cleaning inside the next phase's figures.
    await withClient(databaseUrl, (c) => c.query('VACUUM (ANALYZE)'))
    const before = {
      service: await cpuMs(api.pid),
      postgres: await postgresCpu(postmaster),
      bench: ownCpuMs(),
    }
    await runCalls(put, CLIENTS, EVENTS)
    const putCpu = {
      service: ((await cpuMs(api.pid)) - before.service) / EVENTS,
      postgres: usedSince(before.postgres, await postgresCpu(postmaster)) / EVENTS,
      bench: (ownCpuMs() - before.bench) / EVENTS,
    }

    await withClient(databaseUrl, (c) => c.query('VACUUM (ANALYZE)'))
    const worker = await startServiceProcess(
      { DATABASE_URL: databaseUrl, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
      cleanup,
    )
    // Its start delivered some already: the figures count from here, over what is left.
    const start = {
      received,
      service: await cpuMs(worker.pid),
      postgres: await postgresCpu(postmaster),
      bench: ownCpuMs(),
    }
    const startedAt = performance.now()
    const all = warmEvents + EVENTS
    while (received < all) await new Promise((resolve) => setTimeout(resolve, 10))
    const seconds = (performance.now() - startedAt) / 1000
    const delivered = all - start.received
    const deliveryCpu = {
      service: ((await cpuMs(worker.pid)) - start.service) / delivered,
      postgres: usedSince(start.postgres, await postgresCpu(postmaster)) / delivered,
      bench: (ownCpuMs() - start.bench) / delivered,
    }
    return {
      events: delivered,
      put: putCpu,
      delivery: deliveryCpu,
      deliveredPerSecond: delivered / seconds,
      bound: total(putCpu) / (total(putCpu) + total(deliveryCpu)),
    }
  })
}

export function formatWebhookCostBench(f: WebhookCostFigures): string {
  const ms = (value: number) => value.toFixed(2).padStart(5)
  const row = (name: string, cpu: CpuPerCall, bench: string) =>
    `  ${name}  service ${ms(cpu.service)}  PostgreSQL ${ms(cpu.postgres)}  ${bench} ${ms(cpu.bench)}  all ${ms(total(cpu))} ms`
  return [
    `Webhook delivery cost (CPU ms per call and process; a worker instance alone delivering a backlog of ${f.events} events, ${f.deliveredPerSecond.toFixed(0)}/s)`,
    row('a calendar PUT', f.put, 'client  '),
    row('its delivery  ', f.delivery, 'receiver'),
    `  PUT throughput with every event delivered as made, on one machine running all of these: at most ${f.bound.toFixed(2)} of none`,
    '',
  ].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`)
  console.log(formatWebhookCostBench(await runWebhookCostBench()))
