import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Pool } from 'undici'
import { type Config, loadConfig } from '../src/config.ts'
import type { AssignmentInput } from '../src/services/crew/crew-schemas.ts'
import { buildServer, type ServerProcess, startServer } from '../test/helpers/server-process.ts'
import type { Cleanup } from './lib.ts'
import type { ReplaceCalendars } from './workload.ts'

/** The service key the benchmarks' app accepts and their clients send. */
export const BENCH_SERVICE_KEY = 'bench-service-key-0123456789'
/** A second credential, for loads that must come from two (each has its own share of the body budget). */
export const BENCH_OTHER_SERVICE_KEY = 'bench-other-service-key-0123456789'
// One key drives the whole load, far beyond the per-credential rate limit meant for real clients.
export const BENCH_AUTH = {
  AUTH_SERVICE_KEYS: `bench:${BENCH_SERVICE_KEY},bench-other:${BENCH_OTHER_SERVICE_KEY}`,
  RATE_LIMIT_MAX: '1000000000',
}

/** The app's configuration in every benchmark: the environment overridden by `env`, logs silenced, the bench key. */
export function benchConfig(env: Record<string, string>): Config {
  return loadConfig({ ...process.env, LOG_LEVEL: 'silent', ...BENCH_AUTH, ...env })
}

/**
 * The V8 flags `npm start` runs the server with (package.json's start script; the Dockerfile's CMD
 * has the same, test/deploy.test.ts checks), so the service is measured under its real heap limits
 * and WebAssembly tier (`--liftoff-only`: Prisma's query compiler is never recompiled by TurboFan,
 * whose background compiles were about 20 MB of the peak RSS, docs/operations.md#memory).
 */
/** A V8 flag of the memory budget: a heap limit or the WebAssembly tier. */
export const isMemoryFlag = (word: string) => word.startsWith('--max-') || word === '--liftoff-only'

export function productionNodeFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>
  }
  return (scripts.start ?? '').split(/\s+/).filter(isMemoryFlag)
}

/**
 * The built service (dist/src/server.js, compiled first) as a process of its own, with the production
 * heap flags (and `extraNodeArgs` after them), configured by `env` over the bench key; resolves once it
 * answers /health/ready. The load comes from this process, so client and server never share a CPU
 * thread's time.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  cleanup: Cleanup,
  extraNodeArgs: string[] = [],
): Promise<ServerProcess> {
  await buildServer()
  const server = await startServer(
    cleanup,
    { ...BENCH_AUTH, LOG_LEVEL: 'warn', SYNC_WORKER: 'off', ...env },
    { built: true, nodeArgs: [...productionNodeFlags(), ...extraNodeArgs] },
  )
  await server.ready()
  return server
}

export interface HttpAnswer {
  status: number
  body: string
}

/**
 * An HTTP client of the service: undici's keep-alive pool of `connections` connections. Its CPU cost per
 * request is a fraction of fetch's (which cost about as much as the server itself), so the client is not
 * what the benchmark measures.
 */
export class BenchClient {
  private readonly pool: Pool

  constructor(origin: string, connections: number, cleanup: Cleanup) {
    this.pool = new Pool(origin, { connections, pipelining: 1 })
    cleanup.add(() => this.pool.close())
  }

  async put(path: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    const response = await this.pool.request({
      method: 'PUT',
      path,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${BENCH_SERVICE_KEY}`,
        ...headers,
      },
      body: JSON.stringify(body),
    })
    return { status: response.statusCode, body: await response.body.text() }
  }

  async get(path: string): Promise<HttpAnswer> {
    const response = await this.pool.request({
      method: 'GET',
      path,
      headers: { authorization: `Bearer ${BENCH_SERVICE_KEY}` },
    })
    return { status: response.statusCode, body: await response.body.text() }
  }
}

export const calendarsPath = (userId: string) => `/v1/users/${encodeURIComponent(userId)}/calendars`

/**
 * PUT /v1/users/{userId}/calendars; fails on any status but 200. With `idempotencyKeys`, each request
 * carries a new Idempotency-Key (its response is stored in the replace's transaction).
 */
export function replaceOverHttp(client: BenchClient, { idempotencyKeys = false } = {}): ReplaceCalendars {
  return async (userId, calendars) => {
    const headers: Record<string, string> = idempotencyKeys ? { 'idempotency-key': randomUUID() } : {}
    const answer = await client.put(calendarsPath(userId), { calendars }, headers)
    if (answer.status !== 200) {
      throw new Error(`PUT calendars of ${userId}: HTTP ${answer.status} ${answer.body.slice(0, 500)}`)
    }
  }
}

/** PUT /v1/jobs/{jobId}/crew-calls/{department}/assignments; fails on any status but 200. */
export function replaceRosterOverHttp(client: BenchClient) {
  return async (jobId: string, assignments: AssignmentInput[]) => {
    const answer = await client.put(`/v1/jobs/${encodeURIComponent(jobId)}/crew-calls/sound/assignments`, {
      assignments,
    })
    if (answer.status !== 200) {
      throw new Error(`PUT roster of ${jobId}: HTTP ${answer.status} ${answer.body.slice(0, 500)}`)
    }
  }
}

/** Subscribes a webhook endpoint at `receiverUrl` to every event type, as the bench's service key (an admin). */
export async function subscribeWebhookEndpoint(serviceUrl: string, receiverUrl: string): Promise<void> {
  const response = await fetch(`${serviceUrl}/v1/webhook-endpoints`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BENCH_SERVICE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiverUrl }),
  })
  if (response.status !== 201) throw new Error(`POST /v1/webhook-endpoints: HTTP ${response.status}`)
}
