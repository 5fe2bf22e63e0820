import t from 'tap'
import { calendarSet } from '../../helpers/calendars.ts'
import { createTestDatabase } from '../../helpers/database.ts'
import { startServer } from '../../helpers/server-process.ts'
import { waitFor } from '../../helpers/wait.ts'
import { expectedSignature, startWebhookReceiver } from '../../helpers/webhook-receiver.ts'

const KEY = 'webhook-instances-key-0123456789'
const authorization = `Bearer ${KEY}`

t.test(
  'two instances, one killed with SIGKILL mid-delivery: every committed version reaches the receiver, signed',
  async (t) => {
    const databaseUrl = await createTestDatabase(t)
    // Every answer takes a while, so deliveries are in flight when the first instance dies; 1 in 4 is a 500.
    let n = 0
    const receiver = await startWebhookReceiver(t, () => (++n % 4 === 0 ? { status: 500 } : { slowMs: 150 }))
    const env = {
      DATABASE_URL: databaseUrl,
      AUTH_SERVICE_KEYS: `instances:${KEY}`,
      LOG_LEVEL: 'warn',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_POLL_MS: '20',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_RETRY_SCHEDULE_MS: '0,50,100,100,100,100,100,100,100,100,100,100,100,100,100',
    }
    const [first, second] = await Promise.all([startServer(t, env), startServer(t, env)])
    await Promise.all([first.ready(), second.ready()])
    const call = (base: string, method: string, path: string, body?: unknown) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    const created = await call(first.url, 'POST', '/v1/webhook-endpoints', { url: receiver.url })
    t.equal(created.status, 201)
    const { secret } = (await created.json()) as { secret: string }

    const USERS = ['u1', 'u2', 'u3', 'u4']
    const VERSIONS = 6
    const committed = new Set<string>()
    let killed = false
    for (let v = 1; v <= VERSIONS; v++) {
      await Promise.all(
        USERS.map(async (user, i) => {
          const base = killed || i % 2 === 1 ? second.url : first.url
          const answer = await call(base, 'PUT', `/v1/users/${user}/calendars`, {
            calendars: calendarSet(`v${v}`, 1),
          })
          if (answer.status === 200)
            committed.add(`${user}:${((await answer.json()) as { version: number }).version}`)
        }),
      )
      if (v === 3) {
        await waitFor('a delivery in flight', () => receiver.received.length > 2)
        first.kill('SIGKILL')
        await first.exitCode()
        killed = true
      }
    }
    t.equal(committed.size, USERS.length * VERSIONS, 'every write committed')
    const accepted = () =>
      new Set(
        receiver.received
          .filter((r) => r.answer === 'slow' || r.answer === 204)
          .map((r) => {
            const { data } = JSON.parse(r.body) as { data: { userId: string; version: number } }
            return `${data.userId}:${data.version}`
          }),
      )
    // A delivery the killed instance held is taken over when its lease (timeout + 5 s) lapses.
    await waitFor('every committed version to be delivered', () => accepted().size === committed.size, {
      timeoutMs: 60_000,
      intervalMs: 100,
    })
    t.same([...accepted()].sort(), [...committed].sort())
    const idsByEvent = new Map<string, Set<string>>()
    for (const r of receiver.received) {
      t.equal(r.signature, expectedSignature(secret, r.id, r.timestamp, r.body), 'signed')
      const { data } = JSON.parse(r.body) as { data: { userId: string; version: number } }
      const key = `${data.userId}:${data.version}`
      idsByEvent.set(key, (idsByEvent.get(key) ?? new Set()).add(r.id))
    }
    for (const [key, ids] of idsByEvent)
      t.equal(ids.size, 1, `${key}: duplicates only with the same webhook-id`)
  },
)
