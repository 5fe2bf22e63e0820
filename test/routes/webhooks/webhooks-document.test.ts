import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import t from 'tap'
import { webhookEventTypes } from '../../../src/services/webhooks/webhook-types.ts'
import { injectAs } from '../../helpers/build-app.ts'
import { putCalendars } from '../../helpers/calendars.ts'
import { crewWorld, FAST_SYNC_WORKER, replaceRoster, roster, sync } from '../../helpers/crew.ts'
import { waitFor } from '../../helpers/wait.ts'
import { type ReceivedWebhook, startWebhookReceiver } from '../../helpers/webhook-receiver.ts'

/**
 * The OpenAPI document's `webhooks` (issue 19) describe what receivers really get: every event type is
 * sent once here through a real receiver, and each body and its webhook-* headers must validate against
 * the schemas the served document declares for that type. The document is generated from the zod
 * schemas the worker parses each payload with; this proves the two agree on the wire.
 */

type Json = Record<string, unknown>
interface Document {
  webhooks: Record<string, { post: Json & { parameters: { $ref: string }[]; requestBody: Json } }>
  components: { parameters: Record<string, { name: string; schema: Json; required: boolean }> }
}

t.test("the document's webhooks match the payloads and headers actually sent", async (t) => {
  const receiver = await startWebhookReceiver(t)
  const w = await crewWorld(t, 3, {
    env: {
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_POLL_MS: '20',
      FLEX_MAX_ATTEMPTS: '1',
      FLEX_TIMEOUT_MS: '400',
      ...FAST_SYNC_WORKER,
      SYNC_MAX_ATTEMPTS: '2',
    },
  })
  const subscribed = await injectAs(w.app, 'service', {
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: receiver.url },
  })
  t.equal(subscribed.statusCode, 201)

  // Every type: a calendar change, a roster change, then autonomous runs that fail until sync gives up.
  t.equal((await putCalendars(w.app, 'alice', [{ calendarId: 'c1', summary: 'One' }])).statusCode, 200)
  w.flex.fail('list', { status: 500, times: 1_000 })
  await replaceRoster(w.app, roster(2))
  const sent = () => new Set(receiver.accepted().map((r) => (JSON.parse(r.body) as { type: string }).type))
  await waitFor('every event type', () => sent().size === webhookEventTypes.length || undefined)
  // A manual sync that succeeds too: a crew-sync.finished whose error is null.
  w.flex.clearFaults()
  t.equal((await sync(w.app)).body.run.status, 'succeeded')
  await waitFor('the successful run', () =>
    receiver.accepted().some((r) => (JSON.parse(r.body) as { data: Json }).data.status === 'succeeded'),
  )

  const document = (
    await injectAs(w.app, 'service', { method: 'GET', url: '/openapi.json' })
  ).json<Document>()
  t.same(Object.keys(document.webhooks).sort(), [...webhookEventTypes].sort(), 'one webhook per event type')
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false })
  addFormats.default(ajv)
  ajv.addSchema({ ...document, $id: 'openapi.json' })
  const bodyValidator = (type: string) => {
    const content = document.webhooks[type]?.post.requestBody.content as Record<string, { schema: Json }>
    const ref = content['application/json']?.schema.$ref as string
    const validate = ajv.getSchema(`openapi.json${ref}`)
    if (!validate) t.fail(`no schema at ${ref}`)
    return validate
  }
  const headersOf = (type: string) =>
    (document.webhooks[type]?.post.parameters ?? []).map((p) => {
      const name = p.$ref.replace('#/components/parameters/', '')
      return document.components.parameters[name] as { name: string; schema: Json; required: boolean }
    })

  const headerValue: Record<string, (r: ReceivedWebhook) => string> = {
    'webhook-id': (r) => r.id,
    'webhook-timestamp': (r) => r.timestamp,
    'webhook-signature': (r) => r.signature,
  }
  for (const r of receiver.accepted()) {
    const body = JSON.parse(r.body) as { type: string }
    const validate = bodyValidator(body.type)
    if (!validate) continue
    t.ok(
      validate(body),
      `${body.type}: ${r.body} matches its schema ${JSON.stringify(validate.errors ?? [])}`,
    )
    const headers = headersOf(body.type)
    t.same(
      headers.map((h) => h.name),
      ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
      'the Standard Webhooks headers',
    )
    for (const header of headers) {
      const value = headerValue[header.name]?.(r)
      t.ok(
        header.required && value !== undefined && ajv.validate(header.schema, value),
        `${header.name} ${value}`,
      )
    }
  }
  const signedTwice = `${receiver.received[0]?.signature} ${receiver.received[0]?.signature}`
  t.ok(
    ajv.validate(headersOf('roster.changed')[2]?.schema ?? {}, signedTwice),
    'two signatures during an overlap',
  )
  t.same([...sent()].sort(), [...webhookEventTypes].sort(), 'every type was sent and checked')
})
