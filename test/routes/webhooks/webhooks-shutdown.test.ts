import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { calendarSet } from '../../helpers/calendars.ts'
import { createTestDatabase, withClient } from '../../helpers/database.ts'
import { startServer } from '../../helpers/server-process.ts'
import { waitFor } from '../../helpers/wait.ts'
import { expectedSignature } from '../../helpers/webhook-receiver.ts'

/**
 * Issue 19's gap: the webhook workers stop claiming when the shutdown's drain begins (as the reconcile
 * workers do), the attempts in flight finish, and one the shutdown has to cut short is given back and
 * delivered later by another instance under the same webhook-id. A real server process, SIGTERM, and a
 * real receiver that holds its answers until the test lets them go.
 */

const KEY = 'webhook-shutdown-key-0123456789'
const authorization = `Bearer ${KEY}`
/** Delivery slots of the first instance: every one is busy (held by the receiver) when it is signalled. */
const SLOTS = 3
const USERS = 8

interface Arrival {
  id: string
  timestamp: string
  signature: string
  body: string
  /** How the request ended: answered 204, or closed by the sender before any answer (cut short). */
  ended?: 'answered' | 'cut short'
}

/**
 * A receiver that holds every request open until release() answers it 204 (or, once `answerAtOnce`,
 * answers at once). Events of different users go out in parallel, so the held ones fill every slot.
 */
async function startHoldingReceiver(t: { teardown(fn: () => unknown): void }) {
  const arrivals: Arrival[] = []
  const held = new Map<Arrival, ServerResponse>()
  let answerAtOnce = false
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const arrival: Arrival = {
        id: String(request.headers['webhook-id']),
        timestamp: String(request.headers['webhook-timestamp']),
        signature: String(request.headers['webhook-signature']),
        body: Buffer.concat(chunks).toString('utf8'),
      }
      arrivals.push(arrival)
      response.once('close', () => {
        held.delete(arrival)
        arrival.ended ??= 'cut short'
      })
      if (answerAtOnce) answer(arrival, response)
      else held.set(arrival, response)
    })
  })
  const answer = (arrival: Arrival, response: ServerResponse) => {
    arrival.ended = 'answered'
    response.writeHead(204).end()
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    arrivals,
    held: () => [...held.keys()],
    release(arrival: Arrival) {
      const response = held.get(arrival)
      if (response) answer(arrival, response)
    },
    answerEverythingAtOnce() {
      answerAtOnce = true
      for (const [arrival, response] of held) answer(arrival, response)
    },
  }
}

interface DeliveryRow {
  id: string
  status: string
  attempts: number
  lease_owner: string | null
}

t.test(
  'SIGTERM with deliveries in flight: nothing is claimed after the drain begins, the process exits 0, ' +
    'and what it cut short is delivered later by another instance under the same webhook-id',
  { timeout: 120_000 },
  async (t) => {
    const databaseUrl = await createTestDatabase(t)
    const receiver = await startHoldingReceiver(t)
    const env = {
      DATABASE_URL: databaseUrl,
      AUTH_SERVICE_KEYS: `shutdown:${KEY}`,
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_POLL_MS: '20',
      WEBHOOK_WORKER_CONCURRENCY: String(SLOTS),
      WEBHOOK_ENDPOINT_CONCURRENCY: String(USERS),
      // Longer than the whole shutdown: an attempt that never gets its answer is cut short by the
      // shutdown's bound (half of SHUTDOWN_TIMEOUT_MS), not by its own timeout.
      WEBHOOK_TIMEOUT_MS: '120000',
      WEBHOOK_RETRY_SCHEDULE_MS: '0,50,100,100,100',
    }
    const first = await startServer(t, { ...env, SHUTDOWN_DRAIN_MS: '1000', SHUTDOWN_TIMEOUT_MS: '4000' })
    await first.ready()
    const call = (base: string, method: string, path: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    const created = await call(first.url, 'POST', '/v1/webhook-endpoints', { url: receiver.url })
    t.equal(created.status, 201)
    const { secret } = (await created.json()) as { secret: string }
    // One event per user: events of different resources may go out at once.
    for (let u = 0; u < USERS; u++) {
      const answer = await call(first.url, 'PUT', `/v1/users/shutdown-${u}/calendars`, {
        calendars: calendarSet(`u${u}`, 1),
      })
      t.equal(answer.status, 200)
    }
    // Every slot waits for the receiver, so no claim is under way when the signal comes.
    await waitFor('every delivery slot to be held by the receiver', () => receiver.held().length === SLOTS)
    const inFlight = [...receiver.arrivals]

    first.kill('SIGTERM')
    await waitFor('the drain to begin (readiness 503)', async () => {
      const response = await fetch(`${first.url}/health/ready`)
      await response.arrayBuffer()
      return response.status === 503
    })
    // Two attempts in flight finish during the drain, which frees their slots; the third never gets
    // its answer, so the shutdown has to cut it short.
    const [finishing1, finishing2, cutShort] = inFlight as [Arrival, Arrival, Arrival]
    receiver.release(finishing1)
    receiver.release(finishing2)
    t.equal(await first.exitCode(20_000), 0, 'the first instance exited with code 0', {
      output: first.output(),
    })

    t.same(
      receiver.arrivals.map((a) => a.id),
      inFlight.map((a) => a.id),
      'the receiver saw no attempt start after the drain began (freed slots claimed nothing)',
    )
    t.same(
      [finishing1.ended, finishing2.ended, cutShort.ended],
      ['answered', 'answered', 'cut short'],
      'the attempts in flight finished, but the one the receiver never answered, which was cut short',
    )
    const rows = await withClient(databaseUrl, async (db) => {
      const { rows } = await db.query<DeliveryRow>(
        'SELECT id, status, attempts, lease_owner FROM webhook_deliveries ORDER BY event_seq',
      )
      return rows
    })
    t.equal(rows.length, USERS, 'one delivery per event')
    const byId = new Map(rows.map((row) => [row.id, row]))
    t.match(byId.get(finishing1.id), { status: 'succeeded' }, 'an attempt finished during the drain counts')
    t.match(byId.get(finishing2.id), { status: 'succeeded' })
    t.match(
      byId.get(cutShort.id),
      { status: 'pending', attempts: 0, lease_owner: null },
      'the cut-short delivery was given back: due at once, its attempt not counted',
    )
    const untouched = rows.filter((row) => !inFlight.some((a) => a.id === row.id))
    t.same(
      untouched.map((row) => ({ status: row.status, attempts: row.attempts, lease_owner: row.lease_owner })),
      untouched.map(() => ({ status: 'pending', attempts: 0, lease_owner: null })),
      'and no other delivery was ever claimed by the first instance',
    )
    t.match(first.output(), /cut short by the shutdown/, 'the cut-short attempt was logged')

    // A second instance delivers the rest, the cut-short one included, at once (no lease to wait out).
    receiver.answerEverythingAtOnce()
    const second = await startServer(t, env)
    await second.ready()
    await waitFor(
      'every delivery to succeed',
      () =>
        withClient(databaseUrl, async (db) => {
          const { rows } = await db.query<{ pending: number }>(
            `SELECT count(*)::int AS pending FROM webhook_deliveries WHERE status <> 'succeeded'`,
          )
          return rows[0]?.pending === 0
        }),
      { timeoutMs: 30_000, intervalMs: 50 },
    )
    const received = new Set(receiver.arrivals.filter((a) => a.ended === 'answered').map((a) => a.id))
    t.same([...received].sort(), [...byId.keys()].sort(), 'every event was delivered (answered 2xx)')
    const cutShortAgain = receiver.arrivals.filter((a) => a !== cutShort && a.body === cutShort.body)
    t.same(
      cutShortAgain.map((a) => [a.id, a.ended]),
      [[cutShort.id, 'answered']],
      'the cut-short event was delivered again, once, with the same webhook-id',
    )
    for (const a of receiver.arrivals)
      t.equal(a.signature, expectedSignature(secret, a.id, a.timestamp, a.body), 'signed')
    const idsPerBody = new Map<string, Set<string>>()
    for (const a of receiver.arrivals) idsPerBody.set(a.body, (idsPerBody.get(a.body) ?? new Set()).add(a.id))
    t.ok(
      [...idsPerBody.values()].every((ids) => ids.size === 1),
      'duplicates only with the same webhook-id',
    )
  },
)
