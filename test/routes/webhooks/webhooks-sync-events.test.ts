import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import { crewCallUrl, crewWorld, FAST_SYNC_WORKER, replaceRoster, roster, sync } from '../../helpers/crew.ts'
import { waitFor } from '../../helpers/wait.ts'
import {
  expectedSignature,
  type ReceivedWebhook,
  startWebhookReceiver,
} from '../../helpers/webhook-receiver.ts'

/**
 * The two sync event types (issue 19): `crew-sync.finished` for every finished run, with the run's
 * notes (issue 23; an empty list when it has none), and `crew-call.sync-failed` when autonomous sync gives up.
 */

const FAST = { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_POLL_MS: '20', FLEX_MAX_ATTEMPTS: '1' }

async function subscribe(app: FastifyInstance, url: string, events: string[]) {
  const response = await injectAs(app, 'service', {
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url, events },
  })
  if (response.statusCode !== 201) throw new Error(`subscribe: ${response.statusCode} ${response.body}`)
  return response.json<{ id: string; secret: string }>()
}

const eventOf = (r: ReceivedWebhook) =>
  JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, unknown> }

function signedBy(secret: string, r: ReceivedWebhook): boolean {
  return r.signature === expectedSignature(secret, r.id, r.timestamp, r.body)
}

t.test(
  'crew-sync.finished: a manual sync that succeeds, then one that fails, each with its run',
  async (t) => {
    const receiver = await startWebhookReceiver(t)
    const w = await crewWorld(t, 3, { env: FAST })
    const endpoint = await subscribe(w.app, receiver.url, ['crew-sync.finished'])
    await replaceRoster(w.app, roster(2))

    const ok = await sync(w.app)
    t.equal(ok.body.run.status, 'succeeded')
    w.flex.fail('list', { status: 500, times: 10 })
    const failed = await sync(w.app)
    t.equal(failed.body.run.status, 'failed')

    await waitFor('two events', () => receiver.accepted().length >= 2 || undefined)
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.equal(receiver.received.length, 2, 'one event per run; the roster change is not subscribed')
    const [first, second] = receiver.received as [ReceivedWebhook, ReceivedWebhook]
    t.same(eventOf(first).data, {
      jobId: 'job-1',
      department: 'sound',
      runId: ok.body.run.id,
      trigger: 'manual',
      status: 'succeeded',
      error: null,
      notes: [],
    })
    t.equal(eventOf(first).type, 'crew-sync.finished')
    t.match(eventOf(second).data, {
      jobId: 'job-1',
      department: 'sound',
      runId: failed.body.run.id,
      trigger: 'manual',
      status: 'failed',
      error: failed.body.run.errors[0].message,
    })
    t.match(eventOf(second).data.error, /500/)
    t.ok(
      receiver.received.every((r) => signedBy(endpoint.secret, r)),
      'signed',
    )
  },
)

t.test("crew-sync.finished carries the run's notes", async (t) => {
  const ROLES = { sound: { R: '3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c01' } }
  const receiver = await startWebhookReceiver(t)
  const w = await crewWorld(t, 3, { env: { ...FAST, FLEX_BUSINESS_ROLES: JSON.stringify(ROLES) } })
  Object.assign(w.flex.shape, { rowRole: 'none' })
  await subscribe(w.app, receiver.url, ['crew-sync.finished'])
  await replaceRoster(w.app, roster(2, 'SND-FOH-R'))
  await sync(w.app)
  const second = (await sync(w.app)).body.run
  t.match(second.notes, [/no readable business role/], 'the run has notes')

  await waitFor('two events', () => receiver.accepted().length >= 2 || undefined)
  const events = receiver.received.map(eventOf)
  const withNotes = events.find((e) => e.data.runId === second.id)
  t.same(withNotes?.data.notes, second.notes, 'the event has the run’s notes, as the run lists them')
})

t.test('crew-call.sync-failed when autonomous sync gives up, with attempts and the last error', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const w = await crewWorld(t, 3, {
    env: {
      ...FAST,
      ...FAST_SYNC_WORKER,
      SYNC_MAX_ATTEMPTS: '3',
      FLEX_TIMEOUT_MS: '400',
    },
  })
  const endpoint = await subscribe(w.app, receiver.url, ['crew-call.sync-failed', 'crew-sync.finished'])
  w.flex.fail('list', { status: 500, times: 1_000 })
  await replaceRoster(w.app, roster(2))
  const [gaveUp] = await waitFor('the sync-failed event', () => {
    const found = receiver.accepted().filter((r) => eventOf(r).type === 'crew-call.sync-failed')
    return found.length > 0 && found
  })
  const sync = (await injectAs(w.app, 'service', { method: 'GET', url: crewCallUrl() })).json().sync
  t.equal(sync.state, 'failed')
  const event = eventOf(gaveUp as ReceivedWebhook)
  t.same(event.data, { jobId: 'job-1', department: 'sound', attempts: 3, lastError: sync.lastError })
  t.match(event.data.lastError, /500/)
  t.ok(signedBy(endpoint.secret, gaveUp as ReceivedWebhook), 'signed')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const finished = receiver.accepted().filter((r) => eventOf(r).type === 'crew-sync.finished')
  t.equal(finished.length, 3, 'one crew-sync.finished per attempt')
  t.ok(
    finished.every((r) => eventOf(r).data.trigger !== 'manual' && eventOf(r).data.status === 'failed'),
    'each an autonomous run that failed',
  )
  t.equal(
    receiver.accepted().filter((r) => eventOf(r).type === 'crew-call.sync-failed').length,
    1,
    'giving up once sends one event',
  )
})
