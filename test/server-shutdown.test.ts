import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { Client } from 'undici'
import { calendarSet, calendarsUrl, ids } from './helpers/calendars.ts'
import { createEmptyDatabase, withClient } from './helpers/database.ts'
import { type ServerProcess, startServer } from './helpers/server-process.ts'
import { waitFor } from './helpers/wait.ts'

/**
 * A rolling restart over real sockets (issue 26): two server processes on one database, keep-alive
 * clients replacing calendar sets through a balancer that follows readiness, SIGTERM to the first.
 * No request may be cut: every request sent gets an answer (or its connection is refused, and it was
 * never sent), the process exits 0 within drain + timeout, and every acknowledged write is in the
 * database.
 */

const SERVICE_KEY = 'shutdown-test-key-0123456789'
const DRAIN_MS = 1500
const TIMEOUT_MS = 5000
/** How often the balancer asks each instance's readiness (Kubernetes' periodSeconds, scaled down). */
const PROBE_MS = 100
const CLIENTS = 16
/** Bounds on the load: requests per client, and the whole run. */
const MAX_REQUESTS_PER_CLIENT = 2000
const MAX_RUN_MS = 30_000

const env = (databaseUrl: string) => ({
  DATABASE_URL: databaseUrl,
  AUTH_SERVICE_KEYS: `shutdown:${SERVICE_KEY}`,
  RATE_LIMIT_MAX: '1000000',
  LOG_LEVEL: 'warn',
})

interface Instance {
  name: 'first' | 'second'
  server: ServerProcess
  ready: boolean
}

/**
 * What a load balancer (or Kubernetes' endpoints) does: probes /health/ready every PROBE_MS and sends
 * new requests to an instance that answered 200; an instance that refuses a connection is out until
 * its next successful probe.
 */
class Balancer {
  readonly readinessAfterSignal: number[] = []
  private probing = true
  private readonly probes: Promise<void>
  signalled = false

  constructor(private readonly instances: Instance[]) {
    this.probes = Promise.all(instances.map((instance) => this.probeLoop(instance))).then(() => {})
  }

  /** The first instance in order that is ready. */
  pick(): Instance | undefined {
    return this.instances.find((instance) => instance.ready)
  }

  refused(instance: Instance): void {
    instance.ready = false
  }

  async stop(): Promise<void> {
    this.probing = false
    await this.probes
  }

  private async probeLoop(instance: Instance): Promise<void> {
    while (this.probing) {
      const status = await fetch(`${instance.server.url}/health/ready`).then(
        async (response) => {
          await response.arrayBuffer()
          return response.status
        },
        () => 0,
      )
      instance.ready = status === 200
      if (this.signalled && instance.name === 'first') this.readinessAfterSignal.push(status)
      await delay(PROBE_MS)
    }
  }
}

interface Outcome {
  client: number
  instance: Instance['name']
  afterSignal: boolean
  status?: number
  connectionClose?: boolean
  error?: string
}

t.test(
  'SIGTERM under keep-alive load: no request is cut, the process exits 0, acknowledged writes stay',
  { timeout: 120_000 },
  async (t) => {
    const databaseUrl = await createEmptyDatabase(t)
    const first = await startServer(t, {
      ...env(databaseUrl),
      SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS),
    })
    await first.ready()
    const second = await startServer(t, env(databaseUrl))
    await second.ready()
    const instances: Instance[] = [
      { name: 'first', server: first, ready: true },
      { name: 'second', server: second, ready: true },
    ]
    const balancer = new Balancer(instances)
    t.teardown(() => balancer.stop())

    const outcomes: Outcome[] = []
    /** Per client: how many replaces were acknowledged (200), and the calendar ids of the last one. */
    const acknowledged = Array.from({ length: CLIENTS }, () => ({ count: 0, last: [] as string[] }))
    let signalled = false
    let stopping = false
    const runUntil = Date.now() + MAX_RUN_MS

    const runClient = async (client: number): Promise<void> => {
      // One keep-alive connection per client and instance, as a client's HTTP agent keeps them.
      const connections = new Map(
        instances.map((instance) => [instance.name, new Client(instance.server.url, { pipelining: 1 })]),
      )
      try {
        for (let n = 0; n < MAX_REQUESTS_PER_CLIENT && !stopping && Date.now() < runUntil; n++) {
          const instance = balancer.pick()
          if (!instance) {
            await delay(PROBE_MS)
            continue
          }
          const calendars = calendarSet(`c${client}-r${n}`, 3)
          const afterSignal = signalled
          try {
            const response = await connections.get(instance.name)?.request({
              method: 'PUT',
              path: calendarsUrl(`shutdown-user-${client}`),
              headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_KEY}` },
              body: JSON.stringify({ calendars }),
            })
            if (!response) throw new Error(`no connection to ${instance.name}`)
            await response.body.text()
            outcomes.push({
              client,
              instance: instance.name,
              afterSignal,
              status: response.statusCode,
              connectionClose: response.headers.connection === 'close',
            })
            if (response.statusCode === 200) {
              const slot = acknowledged[client] as { count: number; last: string[] }
              slot.count++
              slot.last = ids(calendars)
            }
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code
            if (code === 'ECONNREFUSED') balancer.refused(instance)
            outcomes.push({
              client,
              instance: instance.name,
              afterSignal,
              error: `${code ?? ''} ${(error as Error).message}`,
            })
          }
        }
      } finally {
        await Promise.all([...connections.values()].map((connection) => connection.close()))
      }
    }

    const clients = Array.from({ length: CLIENTS }, (_, client) => runClient(client))
    await waitFor(
      'every client to have replaced its set on the first instance',
      () =>
        Array.from({ length: CLIENTS }, (_, client) => client).every((client) =>
          outcomes.some((o) => o.client === client && o.instance === 'first' && o.status === 200),
        ),
      { timeoutMs: 20_000, intervalMs: 20 },
    )

    signalled = true
    balancer.signalled = true
    const signalledAt = Date.now()
    first.kill('SIGTERM')
    const exitCode = await first.exitCode(DRAIN_MS + TIMEOUT_MS + 5000)
    const exitedAfterMs = Date.now() - signalledAt
    // The load goes on against the second instance for a moment, then stops.
    await delay(300)
    stopping = true
    await Promise.all(clients)
    await balancer.stop()

    const refused = outcomes.filter((o) => o.error?.startsWith('ECONNREFUSED'))
    const cut = outcomes.filter((o) => o.error !== undefined && !o.error.startsWith('ECONNREFUSED'))
    const fromFirstAfterSignal = outcomes.filter((o) => o.instance === 'first' && o.afterSignal && o.status)
    t.comment(
      `${outcomes.length} requests: ${outcomes.filter((o) => o.instance === 'first').length} to the first ` +
        `instance (${fromFirstAfterSignal.length} answered after SIGTERM), ${refused.length} refused ` +
        `connections, ${cut.length} cut; the first exited ${exitedAfterMs} ms after SIGTERM`,
    )
    t.same(cut, [], 'no request was cut: every request sent got an answer')
    t.same(
      outcomes.filter((o) => o.status !== undefined && o.status >= 500 && o.status !== 503),
      [],
      'and no answer was a server error',
    )
    t.equal(exitCode, 0, 'the first instance exited with code 0', { output: first.output() })
    t.ok(
      exitedAfterMs < DRAIN_MS + TIMEOUT_MS + 2000,
      `within drain + timeout (${exitedAfterMs} ms < ${DRAIN_MS} + ${TIMEOUT_MS} ms + 2 s of slack)`,
    )
    t.ok(exitedAfterMs >= DRAIN_MS, 'and not before the drain was over')
    t.ok(fromFirstAfterSignal.length > 0, 'the first instance went on answering after SIGTERM')
    t.ok(
      fromFirstAfterSignal.every((o) => o.connectionClose),
      'every answer it gave after SIGTERM carried Connection: close',
    )
    t.ok(balancer.readinessAfterSignal.includes(503), 'its readiness answered 503 after SIGTERM')
    t.ok(
      outcomes.some((o) => o.instance === 'second' && o.afterSignal && o.status === 200),
      'the load moved to the second instance',
    )

    await withClient(databaseUrl, async (db) => {
      const { rows } = await db.query<{ user_id: string; version: number; calendar_ids: string[] }>(
        `SELECT s.user_id, s.version,
                coalesce(array_agg(m.calendar_id ORDER BY m.calendar_id)
                         FILTER (WHERE m.calendar_id IS NOT NULL), '{}') AS calendar_ids
           FROM calendar_sets s LEFT JOIN managed_calendars m ON m.user_id = s.user_id
          WHERE s.user_id LIKE 'shutdown-user-%' GROUP BY s.user_id, s.version`,
      )
      const stored = new Map(rows.map((row) => [row.user_id, row]))
      const lost = acknowledged.flatMap((ack, client) => {
        const row = stored.get(`shutdown-user-${client}`)
        const same = row?.version === ack.count && row.calendar_ids.join() === [...ack.last].sort().join()
        return same ? [] : [{ client, acknowledged: ack, stored: row }]
      })
      t.same(
        lost,
        [],
        'every set is its last acknowledged replace, and its version counts exactly the acknowledged ones',
      )
    })
  },
)

t.test('during the drain: readiness 503, liveness and every answer with Connection: close', async (t) => {
  const databaseUrl = await createEmptyDatabase(t)
  const server = await startServer(t, { ...env(databaseUrl), SHUTDOWN_DRAIN_MS: '60000' })
  await server.ready()
  server.kill('SIGTERM')
  await waitFor('readiness to answer 503', async () => {
    const response = await fetch(`${server.url}/health/ready`)
    await response.arrayBuffer()
    return response.status === 503
  })
  const ready = await fetch(`${server.url}/health/ready`)
  t.equal(ready.status, 503)
  t.match(ready.headers.get('content-type'), /^application\/problem\+json/)
  t.equal(ready.headers.get('connection'), 'close')
  t.match(await ready.json(), {
    type: 'urn:rostersync:problem:service-unavailable',
    detail: /shutting down.*send new ones to another instance/,
  })
  const put = await fetch(`${server.url}${calendarsUrl('drained')}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${SERVICE_KEY}` },
    body: JSON.stringify({ calendars: calendarSet('d', 2) }),
  })
  t.equal(put.status, 200, 'a request during the drain is served')
  t.equal(put.headers.get('connection'), 'close', 'with Connection: close')
  t.ok(await server.listening(), 'still listening')

  server.kill('SIGTERM')
  t.equal(await server.exitCode(5000), 128 + 15, 'a second SIGTERM exits at once (128 + 15)')
  t.match(server.output(), /second signal: exiting at once/)
})
