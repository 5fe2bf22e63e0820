import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { WebhookOutbox } from '../../src/services/webhooks/webhook-outbox.ts'
import { build } from '../helpers/build-app.ts'
import { calendarSet, putCalendars } from '../helpers/calendars.ts'
import { withClient } from '../helpers/database.ts'
import { waitFor } from '../helpers/wait.ts'
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts'

/**
 * The outbox's retention: deliveries that succeeded longer ago than WEBHOOK_KEEP_DAYS (HISTORY_KEEP_DAYS
 * when unset), and events with no delivery left, are pruned in batches by the history pruning loop; a
 * pending or failed delivery and its event never are.
 */

const FAST = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_POLL_MS: '20',
  WEBHOOK_RETRY_SCHEDULE_MS: '0,3600000',
}

async function subscribe(app: FastifyInstance, url: string) {
  const response = await app.inject({ method: 'POST', url: '/v1/webhook-endpoints', payload: { url } })
  if (response.statusCode !== 201) throw new Error(`subscribe: ${response.statusCode} ${response.body}`)
  return response.json<{ id: string }>()
}

interface OutboxRow {
  key: string
  endpoint_id: string | null
  status: string | null
}

/** Every event with its deliveries (one row per delivery; an event without any has nulls). */
const outbox = (databaseUrl: string) =>
  withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<OutboxRow>(
      `SELECT ev.key, d.endpoint_id, d.status FROM webhook_events ev
         LEFT JOIN webhook_deliveries d ON d.event_id = ev.id ORDER BY ev.seq, d.endpoint_id`,
    )
    return rows
  })

/** Backdates everything in the outbox by `days`, as if it had happened then. */
const age = (databaseUrl: string, days: number) =>
  withClient(databaseUrl, async (client) => {
    await client.query(
      `UPDATE webhook_deliveries SET delivered_at = delivered_at - $1 * interval '1 day',
                                     created_at = created_at - $1 * interval '1 day'`,
      [days],
    )
    await client.query(`UPDATE webhook_events SET occurred_at = occurred_at - $1 * interval '1 day'`, [days])
  })

/**
 * Three endpoints: A takes everything, B answers 500 (its delivery waits an hour for its next attempt:
 * pending), C answers 410 (its delivery is failed, C disabled). alice's version 1 goes to all three;
 * bob's (after B is disabled) to A alone, so once delivered bob's event has nothing left waiting.
 */
async function outboxWorld(t: Test, env: Record<string, string>) {
  const ok = await startWebhookReceiver(t)
  const unavailable = await startWebhookReceiver(t, () => ({ status: 500 }))
  const gone = await startWebhookReceiver(t, () => ({ status: 410 }))
  const { app, databaseUrl } = await build(t, { env: { ...FAST, ...env } })
  const a = await subscribe(app, ok.url)
  const b = await subscribe(app, unavailable.url)
  const c = await subscribe(app, gone.url)
  await putCalendars(app, 'alice', calendarSet('a', 1))
  const deliveries = async (id: string) =>
    (await app.inject(`/v1/webhook-endpoints/${id}/deliveries`)).json<{ deliveries: Delivery[] }>().deliveries
  await waitFor('B to have tried once', async () => (await deliveries(b.id))[0]?.attempts === 1)
  await waitFor('C to be disabled', async () => (await deliveries(c.id))[0]?.status === 'failed')
  await app.inject({ method: 'PATCH', url: `/v1/webhook-endpoints/${b.id}`, payload: { enabled: false } })
  await putCalendars(app, 'bob', calendarSet('b', 1))
  await waitFor('the deliveries to settle', async () => {
    const [toA, toB, toC] = await Promise.all([deliveries(a.id), deliveries(b.id), deliveries(c.id)])
    return (
      toA.length === 2 &&
      toA.every((d) => d.status === 'succeeded') &&
      toB.map((d) => d.status).join() === 'pending' &&
      toC.map((d) => d.status).join() === 'failed'
    )
  })
  return { app, databaseUrl, ids: { a: a.id, b: b.id, c: c.id } }
}

interface Delivery {
  status: string
  attempts: number
}

/** What the outbox holds: `user:status@endpoint` per delivery, `user:-` for an event with none. */
async function holdings(databaseUrl: string, ids: Record<string, string>) {
  const names = new Map(Object.entries(ids).map(([name, id]) => [id, name]))
  return (await outbox(databaseUrl))
    .map((r) => `${r.key.split(':')[1]}:${r.status ? `${r.status}@${names.get(r.endpoint_id ?? '')}` : '-'}`)
    .sort()
}

t.test('delivered events older than WEBHOOK_KEEP_DAYS go; pending and failed ones stay', async (t) => {
  const w = await outboxWorld(t, { WEBHOOK_KEEP_DAYS: '7', HISTORY_KEEP_DAYS: '365' })
  const before = ['alice:failed@c', 'alice:pending@b', 'alice:succeeded@a', 'bob:succeeded@a']
  t.same(await holdings(w.databaseUrl, w.ids), before)
  t.equal(await w.app.services.webhookOutbox.prune(), 0, 'nothing is older than 7 days')
  await age(w.databaseUrl, 6)
  t.equal(await w.app.services.webhookOutbox.prune(), 0, 'nor after 6 days')
  await age(w.databaseUrl, 2)
  t.equal(await w.app.services.webhookOutbox.prune(), 3, "two deliveries to A, and bob's event")
  t.same(await holdings(w.databaseUrl, w.ids), ['alice:failed@c', 'alice:pending@b'])
  t.equal(await w.app.services.webhookOutbox.prune(), 0, 'what waits is never pruned')
  const failed = (await w.app.inject(`/v1/webhook-endpoints/${w.ids.c}/deliveries?status=failed`)).json()
  t.equal(failed.deliveries.length, 1, 'a failed delivery stays listed, and retryable')
})

t.test(
  'unset, WEBHOOK_KEEP_DAYS is HISTORY_KEEP_DAYS, and the history pruning loop prunes the outbox',
  async (t) => {
    const w = await outboxWorld(t, { HISTORY_KEEP_DAYS: '7', HISTORY_PRUNE_INTERVAL_MS: '100' })
    await age(w.databaseUrl, 8)
    await waitFor('the loop to prune the outbox', async () => (await outbox(w.databaseUrl)).length === 2)
    t.same(await holdings(w.databaseUrl, w.ids), ['alice:failed@c', 'alice:pending@b'])
  },
)

t.test('the outbox is pruned in bounded batches', async (t) => {
  const w = await outboxWorld(t, { WEBHOOK_KEEP_DAYS: '0' })
  const outboxInBatchesOfOne = new WebhookOutbox(w.app.db.prisma, { keepDays: 0, pruneBatch: 1 })
  t.equal(await outboxInBatchesOfOne.prune(1), 1, 'one batch of one: one delivery')
  t.equal(await outboxInBatchesOfOne.prune(10), 2, 'the other delivery, then the event left without any')
  t.same(await holdings(w.databaseUrl, w.ids), ['alice:failed@c', 'alice:pending@b'])
})
