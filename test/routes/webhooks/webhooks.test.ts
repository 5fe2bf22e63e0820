import type { LookupAddress } from 'node:dns'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { verifyWebhook } from '../../../sdk/src/index.ts'
import { build, injectAs } from '../../helpers/build-app.ts'
import { calendarSet, putCalendars } from '../../helpers/calendars.ts'
import { putCrewCall, putTechnicians, replaceRoster, roster } from '../../helpers/crew.ts'
import { waitFor } from '../../helpers/wait.ts'
import {
  expectedSignature,
  type ReceivedWebhook,
  startWebhookReceiver,
} from '../../helpers/webhook-receiver.ts'

const FAST = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_POLL_MS: '20',
  WEBHOOK_RETRY_SCHEDULE_MS: '0,20,40,60,80,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100',
}

async function subscribe(app: FastifyInstance, url: string, body: Record<string, unknown> = {}) {
  const response = await injectAs(app, 'service', {
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url, ...body },
  })
  if (response.statusCode !== 201) throw new Error(`subscribe: ${response.statusCode} ${response.body}`)
  return response.json<{ id: string; secret: string; events: string[]; enabled: boolean }>()
}

const eventOf = (r: ReceivedWebhook) =>
  JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, unknown> }

t.test('an endpoint is created with a secret shown once, listed, changed and deleted', async (t) => {
  const { app } = await build(t, { env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_WORKER: 'off' } })
  const created = await subscribe(app, 'http://127.0.0.1:9/hooks', { description: 'ops' })
  t.match(created.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  t.equal(Buffer.from(created.secret.slice(6), 'base64').length, 32)
  t.same(created.events, [
    'calendar-set.changed',
    'roster.changed',
    'crew-sync.finished',
    'crew-call.sync-failed',
  ])
  t.equal(created.enabled, true)
  const read = (await injectAs(app, 'service', `/v1/webhook-endpoints/${created.id}`)).json()
  t.notOk('secret' in read, 'the secret is shown only when created')
  const list = (await injectAs(app, 'service', '/v1/webhook-endpoints?limit=1')).json()
  t.equal(list.endpoints.length, 1)
  t.equal(list.nextCursor, null)
  const patched = await injectAs(app, 'service', {
    method: 'PATCH',
    url: `/v1/webhook-endpoints/${created.id}`,
    payload: { enabled: false, events: ['roster.changed'] },
  })
  t.match(patched.json(), { enabled: false, disabledReason: 'disabled by hand', events: ['roster.changed'] })
  const unknownKey = await injectAs(app, 'service', {
    method: 'PATCH',
    url: `/v1/webhook-endpoints/${created.id}`,
    payload: { secret: 'x' },
  })
  t.equal(unknownKey.statusCode, 400)
  t.equal(
    (await injectAs(app, 'service', { method: 'DELETE', url: `/v1/webhook-endpoints/${created.id}` }))
      .statusCode,
    204,
  )
  t.equal((await injectAs(app, 'service', `/v1/webhook-endpoints/${created.id}`)).statusCode, 404)
})

t.test(
  'the SSRF guard refuses loopback, private, link-local and non-https URLs without the setting',
  async (t) => {
    const dns: Record<string, string> = { 'internal.example': '10.1.2.3', 'hooks.example': '93.184.216.34' }
    const resolveHost = async (host: string): Promise<LookupAddress[]> => {
      const address = dns[host]
      if (!address) throw new Error(`ENOTFOUND ${host}`)
      return [{ address, family: 4 }]
    }
    const { app } = await build(t, { env: { WEBHOOK_WORKER: 'off' }, overrides: { resolveHost } })
    for (const url of [
      'https://127.0.0.1/hooks',
      'https://10.0.0.8/hooks',
      'https://192.168.1.1/hooks',
      'https://172.20.0.1/hooks',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hooks',
      'https://[fe80::1]/hooks',
      'https://[::ffff:127.0.0.1]/hooks',
      'https://internal.example/hooks',
      'https://nowhere.example/hooks',
      'http://hooks.example/hooks',
    ]) {
      const response = await injectAs(app, 'service', {
        method: 'POST',
        url: '/v1/webhook-endpoints',
        payload: { url },
      })
      t.equal(response.statusCode, 400, url)
      t.match(response.json(), { errors: [{ in: 'body', pointer: '/url' }] }, url)
    }
    t.equal(
      (await injectAs(app, 'service', '/v1/webhook-endpoints')).json().endpoints.length,
      0,
      'nothing was written',
    )
    const ok = await injectAs(app, 'service', {
      method: 'POST',
      url: '/v1/webhook-endpoints',
      payload: { url: 'https://hooks.example/hooks' },
    })
    t.equal(ok.statusCode, 201, 'an https URL resolving to a public address is accepted')
  },
)

t.test(
  'DNS is checked again at every delivery: a host now resolving to loopback is never called',
  async (t) => {
    const receiver = await startWebhookReceiver(t)
    let address = '93.184.216.34'
    const resolveHost = async (): Promise<LookupAddress[]> => [{ address, family: 4 }]
    const { app } = await build(t, {
      env: { ...FAST, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_RETRY_SCHEDULE_MS: '0' },
      overrides: { resolveHost },
    })
    // The guard needs https; the receiver speaks http, so it is never reached either way: what shows the
    // check ran is the error recorded before any connection.
    const endpoint = await subscribe(app, `https://rebinding.example:${receiver.port}/hooks`)
    address = '127.0.0.1'
    await putCalendars(app, 'alice', calendarSet('a', 1))
    const delivery = await waitFor('the delivery to fail', async () => {
      const [d] = (
        await injectAs(app, 'service', `/v1/webhook-endpoints/${endpoint.id}/deliveries?status=failed`)
      ).json().deliveries
      return d
    })
    t.match(delivery.lastError, /127\.0\.0\.1.*not a public address/)
    t.equal(receiver.received.length, 0)
  },
)

t.test(
  'every committed change is delivered once per version, signed; refused and empty writes send nothing',
  async (t) => {
    const receiver = await startWebhookReceiver(t)
    const { app } = await build(t, { env: FAST })
    const endpoint = await subscribe(app, receiver.url)
    t.equal((await putCalendars(app, 'alice', calendarSet('a', 2))).statusCode, 200)
    t.equal(
      (await putCalendars(app, 'alice', calendarSet('a', 2))).statusCode,
      200,
      'nothing changed: no event',
    )
    const stale = await putCalendars(app, 'alice', calendarSet('b', 1), { 'if-match': '"0"' })
    t.equal(stale.statusCode, 412, 'refused: no event')
    t.equal((await putCalendars(app, 'alice', calendarSet('a', 3))).statusCode, 200)
    const restore = await injectAs(app, 'service', {
      method: 'POST',
      url: '/v1/users/alice/calendars/restore',
      payload: { version: 1 },
    })
    t.equal(restore.statusCode, 200)
    await putTechnicians(app, 3)
    await putCrewCall(app)
    t.equal((await replaceRoster(app, roster(2))).statusCode, 200)
    t.equal((await replaceRoster(app, [{ technicianId: 'nobody' }])).statusCode, 400, 'refused: no event')
    t.equal((await replaceRoster(app, roster(3))).statusCode, 200)

    await waitFor('five events', () => receiver.accepted().length >= 5, { timeoutMs: 15_000 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const events = receiver.received.map(eventOf)
    t.same(
      events.filter((e) => e.type === 'calendar-set.changed').map((e) => e.data),
      [
        { userId: 'alice', version: 1, created: 2, updated: 0, deleted: 0, restoredFrom: null },
        { userId: 'alice', version: 2, created: 1, updated: 0, deleted: 0, restoredFrom: null },
        { userId: 'alice', version: 3, created: 0, updated: 0, deleted: 1, restoredFrom: 1 },
      ],
    )
    t.same(
      events.filter((e) => e.type === 'roster.changed').map((e) => e.data),
      [
        { jobId: 'job-1', department: 'sound', version: 1 },
        { jobId: 'job-1', department: 'sound', version: 2 },
      ],
    )
    const verifier = new Webhook(endpoint.secret)
    for (const r of receiver.received) {
      const headers = {
        'webhook-id': r.id,
        'webhook-timestamp': r.timestamp,
        'webhook-signature': r.signature,
      }
      t.same(verifier.verify(r.body, headers), JSON.parse(r.body), 'standardwebhooks verifies it')
      t.equal(
        r.signature,
        expectedSignature(endpoint.secret, r.id, r.timestamp, r.body),
        'and so does our HMAC',
      )
      t.ok(Math.abs(Number(r.timestamp) - Date.now() / 1000) < 60, 'webhook-timestamp is the attempt time')
    }
    const tampered = receiver.received[0] as ReceivedWebhook
    t.throws(() =>
      verifier.verify(tampered.body.replace('alice', 'mallory'), {
        'webhook-id': tampered.id,
        'webhook-timestamp': tampered.timestamp,
        'webhook-signature': tampered.signature,
      }),
    )
    const delivered = (
      await injectAs(app, 'service', `/v1/webhook-endpoints/${endpoint.id}/deliveries?status=succeeded`)
    ).json()
    t.equal(delivered.deliveries.length, 5)
    t.match(delivered.deliveries[0], {
      status: 'succeeded',
      attempts: 1,
      lastStatus: 204,
      nextAttemptAt: null,
    })
  },
)

t.test(
  'with 25% 500s, dropped connections and slow answers, every version arrives, duplicates share the webhook-id',
  async (t) => {
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    const receiver = await startWebhookReceiver(t, () => {
      const roll = random()
      if (roll < 0.25) return { status: 500 }
      if (roll < 0.35) return { drop: true }
      if (roll < 0.45) return { slowMs: 600 }
      return { status: 200 }
    })
    const { app } = await build(t, { env: { ...FAST, WEBHOOK_TIMEOUT_MS: '300' } })
    await subscribe(app, receiver.url, { events: ['calendar-set.changed'] })
    const USERS = ['u1', 'u2', 'u3']
    const VERSIONS = 8
    for (let v = 1; v <= VERSIONS; v++)
      await Promise.all(USERS.map((user) => putCalendars(app, user, calendarSet(`v${v}`, 1))))
    const acceptedVersions = () => {
      const seen = new Set<string>()
      for (const r of receiver.accepted()) {
        const { data } = eventOf(r)
        seen.add(`${data.userId}:${data.version}`)
      }
      return seen
    }
    await waitFor('every version to be accepted', () => acceptedVersions().size === USERS.length * VERSIONS, {
      timeoutMs: 60_000,
    })
    t.ok(
      receiver.received.some((r) => r.answer === 500),
      'some 500s were injected',
    )
    t.ok(
      receiver.received.some((r) => r.answer === 'dropped'),
      'some connections were dropped',
    )
    t.ok(
      receiver.received.some((r) => r.answer === 'slow'),
      'some answers came after the timeout',
    )
    const bodiesById = new Map<string, string>()
    for (const r of receiver.received) {
      const body = JSON.stringify(eventOf(r))
      if (bodiesById.has(r.id)) t.equal(bodiesById.get(r.id), body, 'a duplicate is the same event')
      bodiesById.set(r.id, body)
    }
    t.equal(bodiesById.size, USERS.length * VERSIONS, 'one webhook-id per event')
  },
)

t.test('a 410 disables the endpoint, with the reason; enabling it sends what waited', async (t) => {
  const receiver = await startWebhookReceiver(t, () => ({ status: 410 }))
  const { app } = await build(t, { env: FAST })
  const endpoint = await subscribe(app, receiver.url)
  await putCalendars(app, 'alice', calendarSet('a', 1))
  const disabled = await waitFor('the endpoint to be disabled', async () => {
    const read = (await injectAs(app, 'service', `/v1/webhook-endpoints/${endpoint.id}`)).json()
    return read.enabled === false && read
  })
  t.match(disabled.disabledReason, /410/)
  const report = (await injectAs(app, 'service', '/v1/admin/integrity')).json()
  t.same(report.webhooks, { endpointsDisabled: 1, deliveriesFailed: 1 })
  const metrics = (await injectAs(app, 'service', '/metrics')).body
  t.match(metrics, /rostersync_webhook_deliveries_total\{type="calendar-set.changed",outcome="gone"\} 1/)
  t.match(metrics, /rostersync_webhook_queue_depth 0/, 'a disabled endpoint has nothing due')
  t.match(metrics, /rostersync_webhook_oldest_undelivered_seconds /)
  await putCalendars(app, 'alice', calendarSet('b', 1))
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(receiver.received.length, 1, 'a disabled endpoint gets nothing')
  receiver.behave(() => ({ status: 200 }))
  const [failed] = (
    await injectAs(app, 'service', `/v1/webhook-endpoints/${endpoint.id}/deliveries?status=failed`)
  ).json().deliveries
  await injectAs(app, 'service', {
    method: 'PATCH',
    url: `/v1/webhook-endpoints/${endpoint.id}`,
    payload: { enabled: true },
  })
  const retried = await injectAs(app, 'service', {
    method: 'POST',
    url: `/v1/webhook-endpoints/${endpoint.id}/deliveries/${failed.id}/retry`,
  })
  t.equal(retried.statusCode, 200)
  t.equal(retried.json().status, 'pending')
  await waitFor('the retried delivery', () => receiver.accepted().length === 1)
  t.equal(receiver.accepted()[0]?.id, failed.id, 'a manual retry keeps the webhook-id')
})

t.test('after a rotation both secrets sign, in one header, during the overlap', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const { app } = await build(t, { env: FAST })
  const endpoint = await subscribe(app, receiver.url)
  const rotated = await injectAs(app, 'service', {
    method: 'POST',
    url: `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`,
  })
  t.equal(rotated.statusCode, 200)
  const { secret } = rotated.json<{ secret: string }>()
  t.not(secret, endpoint.secret)
  await putCalendars(app, 'alice', calendarSet('a', 1))
  const [r] = await waitFor('a delivery', () => receiver.accepted().length > 0 && receiver.accepted())
  const signatures = (r as ReceivedWebhook).signature.split(' ')
  t.equal(signatures.length, 2)
  for (const key of [secret, endpoint.secret]) {
    const headers = {
      'webhook-id': r?.id,
      'webhook-timestamp': r?.timestamp,
      'webhook-signature': r?.signature,
    }
    t.ok(
      new Webhook(key).verify(r?.body as string, headers as Record<string, string>),
      'verifies with each secret',
    )
    const event = verifyWebhook(key, headers as Record<string, string>, r?.body as string)
    t.equal(event.type, 'calendar-set.changed', "the SDK's verifyWebhook returns the typed event")
    if (event.type === 'calendar-set.changed') t.equal(event.data.userId, 'alice')
  }
  const forged = {
    'webhook-id': r?.id,
    'webhook-timestamp': r?.timestamp,
    'webhook-signature': 'v1,Zm9yZ2Vk',
  }
  t.throws(
    () => verifyWebhook(secret, forged as Record<string, string>, r?.body as string),
    'a forged one throws',
  )
})

t.test('redirects are not followed: they count as failures', async (t) => {
  const target = await startWebhookReceiver(t)
  const receiver = await startWebhookReceiver(t, () => ({ status: 307, headers: { location: target.url } }))
  const { app } = await build(t, { env: { ...FAST, WEBHOOK_RETRY_SCHEDULE_MS: '0,10' } })
  const endpoint = await subscribe(app, receiver.url)
  await putCalendars(app, 'alice', calendarSet('a', 1))
  const [failed] = await waitFor('the delivery to fail', async () => {
    const page = (
      await injectAs(app, 'service', `/v1/webhook-endpoints/${endpoint.id}/deliveries?status=failed`)
    ).json()
    return page.deliveries.length > 0 && page.deliveries
  })
  t.match(failed, { attempts: 2, lastStatus: 307, lastError: /redirects are not followed/ })
  t.equal(target.received.length, 0, 'the redirect target was never called')
})
