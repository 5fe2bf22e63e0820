import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { startTracing, type TracingHandle } from '../../src/telemetry/start-tracing.ts'
import { build, injectAs } from '../helpers/build-app.ts'
import { calendarSet, putCalendars } from '../helpers/calendars.ts'
import { crewWorld, replaceRoster, roster } from '../helpers/crew.ts'
import { withClient } from '../helpers/database.ts'
import { captureLog } from '../helpers/log-capture.ts'
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { waitFor } from '../helpers/wait.ts'
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts'

/**
 * Tracing on (as src/server.ts starts it when an OTLP endpoint is set), exporting OTLP/HTTP JSON to a
 * receiver in this process; every span sampled. One tracer provider per process: this file starts it
 * once, before any app is built.
 */
const SERVER = 2
const CLIENT = 3
const ERROR = 2
/** A client span of a Flex call (Prisma's statement spans are client spans too). */
const isFlexCall = (span: ReceivedSpan) => span.kind === CLIENT && span.name.startsWith('Flex ')

let receiver: OtlpReceiver
let tracing: TracingHandle

test('start tracing', async () => {
  receiver = await OtlpReceiver.start()
  tracing = await startTracing({
    tracesUrl: `${receiver.url}/v1/traces`,
    protocol: 'http/json',
    headers: { 'x-collector-key': 'k1' },
    serviceName: 'rostersync-test',
    resourceAttributes: { 'deployment.environment.name': 'test' },
    sampler: 'parentbased_always_on',
    samplerRatio: 1,
  })
})

const newTraceId = () => randomBytes(16).toString('hex')
const traceparentFor = (traceId: string) => `00-${traceId}-${randomBytes(8).toString('hex')}-01`

/** Whether `span` descends from `ancestor` among the spans of its trace. */
function descendsFrom(span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  const byId = new Map(receiver.trace(span.traceId).map((s) => [s.spanId, s]))
  for (let at = span.parentSpanId; at; at = byId.get(at)?.parentSpanId)
    if (at === ancestor.spanId) return true
  return false
}

test('a calendar PUT with a traceparent: a server span in that trace, a SQL span below it, ids in the log', async (t) => {
  const log = captureLog()
  const { app } = await build(t, { overrides: { logger: { level: 'info', stream: log.stream } } })
  const traceId = newTraceId()
  const response = await putCalendars(app, 'u-traced', calendarSet('c', 3), {
    traceparent: traceparentFor(traceId),
    'x-request-id': 'req-traced-1',
  })
  t.equal(response.statusCode, 200)
  await tracing.flush()
  const server = await receiver.waitFor((s) => s.traceId === traceId && s.kind === SERVER)
  t.equal(server.name, 'PUT /v1/users/:userId/calendars')
  t.equal(server.attributes['http.route'], '/v1/users/:userId/calendars')
  t.equal(server.attributes['http.request.method'], 'PUT')
  t.equal(server.attributes['http.response.status_code'], 200)
  t.equal(server.attributes['http.request.id'], 'req-traced-1')
  t.equal(server.resource['service.name'], 'rostersync-test')
  t.equal(server.resource['deployment.environment.name'], 'test')
  const sql = await receiver.waitUntil(
    // Prisma's statement spans, and the replace's own (src/db/body-statement.ts: its body bypasses Prisma).
    () => receiver.trace(traceId).filter((s) => s.name === 'prisma:client:db_query' || s.name === 'db_query'),
    (found) => found.some((s) => String(s.attributes['db.query.text']).includes('replace_calendar_set')),
  )
  t.ok(sql.length > 0, 'one span per SQL statement')
  t.ok(
    sql.some(
      (s) =>
        descendsFrom(s, server) && String(s.attributes['db.query.text']).includes('replace_calendar_set'),
    ),
    'the replace statement is a descendant of the server span',
  )
  const completed = log.lines.find(
    (line) => line.msg === 'request completed' && line.reqId === 'req-traced-1',
  )
  t.equal(completed?.trace_id, traceId, 'the request line carries the trace id')
  t.match(completed?.span_id, /^[0-9a-f]{16}$/)
  t.equal(receiver.exports[0]?.headers['x-collector-key'], 'k1', 'OTEL_EXPORTER_OTLP_HEADERS are sent')
  t.match(receiver.exports[0]?.contentType, /^application\/json/)
})

test('a manual sync: a client span per Flex call, Flex receives the trace, the run span has its counts', async (t) => {
  const log = captureLog()
  const world = await crewWorld(t, 3, { overrides: { logger: { level: 'info', stream: log.stream } } })
  t.equal((await replaceRoster(world.app, roster(3))).statusCode, 200)
  const traceId = newTraceId()
  const response = await injectAs(world.app, 'service', {
    method: 'POST',
    url: '/v1/jobs/job-1/crew-calls/sound/sync',
    headers: { traceparent: traceparentFor(traceId) },
  })
  t.equal(response.statusCode, 200, response.body)
  await tracing.flush()
  const run = await receiver.waitFor((s) => s.traceId === traceId && s.name === 'sync run')
  t.equal(run.attributes['rostersync.sync.trigger'], 'manual')
  t.equal(run.attributes['rostersync.sync.status'], 'succeeded')
  t.equal(run.attributes['rostersync.sync.added'], 3)
  t.equal(run.attributes['rostersync.sync.flex_calls'], 4)
  t.ok(
    run.events.some(
      (e) => e.name === 'flex call budget' && e.attributes['rostersync.flex.budget.outcome'] === 'granted',
    ),
    'the budget reservation is an event of the run',
  )
  const clients = await receiver.waitUntil(
    () => receiver.trace(traceId).filter(isFlexCall),
    (calls) => calls.length >= 4,
  )
  t.equal(clients.length, 4, 'one list and three adds')
  t.ok(clients.every((s) => descendsFrom(s, run)))
  const list = clients.find((s) => s.attributes['rostersync.flex.endpoint'] === 'list')
  t.equal(list?.name, 'Flex GET /line-item/{elementId}/row-data/')
  t.equal(list?.attributes['url.template'], '/line-item/{elementId}/row-data/')
  t.equal(list?.attributes['http.response.status_code'], 200)
  t.equal(list?.attributes['rostersync.flex.outcome'], 'ok')
  const received = world.flex.calls.map((call) => call.traceparent?.split('-')[1])
  t.same(received, [traceId, traceId, traceId, traceId], 'every Flex call carried the trace in traceparent')
  const spanIds = new Set(clients.map((s) => s.spanId))
  t.ok(
    world.flex.calls.every((call) => spanIds.has(call.traceparent?.split('-')[2] ?? '')),
    'each call names its own client span as parent',
  )
  const runLine = log.lines.find((line) => String(line.msg).startsWith('sync succeeded'))
  t.equal(runLine?.trace_id, traceId, 'the run line carries the trace id')
})

test("a failed Flex call's span has error status and the problem kind", async (t) => {
  const world = await crewWorld(t, 1, { env: { FLEX_MAX_ATTEMPTS: '1' } })
  t.equal((await replaceRoster(world.app, roster(1))).statusCode, 200)
  world.flex.fail('list', { status: 500 })
  const traceId = newTraceId()
  const response = await injectAs(world.app, 'service', {
    method: 'POST',
    url: '/v1/jobs/job-1/crew-calls/sound/sync',
    headers: { traceparent: traceparentFor(traceId) },
  })
  t.equal(response.statusCode, 200, 'a failed run is recorded and answered')
  await tracing.flush()
  const call = await receiver.waitFor((s) => s.traceId === traceId && isFlexCall(s))
  t.equal(call.status.code, ERROR)
  t.equal(call.attributes['error.type'], 'http')
  t.equal(call.attributes['rostersync.flex.outcome'], 'http')
  t.equal(call.attributes['http.response.status_code'], 500)
  const run = await receiver.waitFor((s) => s.traceId === traceId && s.name === 'sync run')
  t.equal(run.status.code, ERROR)
  t.equal(run.attributes['rostersync.sync.status'], 'failed')
})

test("a background run links to the roster change's trace; the change's statement carried it as a comment", async (t) => {
  const world = await crewWorld(t, 2, {
    env: { SYNC_WORKER: 'on', SYNC_POLL_MS: '20', SYNC_DEBOUNCE_MS: '50', SYNC_RESYNC_INTERVAL_MS: '0' },
  })
  const traceId = newTraceId()
  const change = await replaceRoster(world.app, roster(2), 'sound', { traceparent: traceparentFor(traceId) })
  t.equal(change.statusCode, 200)
  const stored = await withClient(world.databaseUrl, (client) =>
    client.query<{ traceparent: string | null }>(
      `SELECT sync_change_traceparent AS traceparent FROM crew_calls WHERE job_id = 'job-1'`,
    ),
  )
  t.equal(stored.rows[0]?.traceparent?.split('-')[1], traceId, 'the SQL comment named the change trace')
  const deadline = Date.now() + 10_000
  let run: ReceivedSpan | undefined
  while (!run && Date.now() < deadline) {
    await tracing.flush()
    run = receiver.spans.find(
      (s) => s.name === 'sync run' && s.links.some((link) => link.traceId === traceId),
    )
    if (!run) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.ok(run, 'a sync run links to the change')
  t.not(run?.traceId, traceId, 'in a trace of its own')
  t.equal(run?.attributes['rostersync.sync.trigger'], 'change')
  await tracing.flush()
  const claim = await receiver.waitFor((s) => s.traceId === run?.traceId && s.name === 'sync claim')
  t.equal(run?.parentSpanId, claim.spanId, "the run is the worker claim's child")
  t.equal(claim.kind, 5, 'a consumer span')
  const calls = await receiver.waitUntil(
    () => receiver.trace(run?.traceId ?? '').filter(isFlexCall),
    (found) => found.length >= 1,
  )
  // At least the list: the adds may have been made by a run the crew call's creation scheduled, if
  // that run read the roster after the change.
  t.ok(calls.length >= 1, 'its Flex calls are in its trace')
})

test('a webhook delivery: a client span per attempt, its traceparent sent, a failed one in error and logged', async (t) => {
  const log = captureLog()
  const hooks = await startWebhookReceiver(t, (n) => ({ status: n === 0 ? 500 : 204 }))
  const { app } = await build(t, {
    env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_POLL_MS: '20', WEBHOOK_RETRY_SCHEDULE_MS: '0,20' },
    overrides: { logger: { level: 'info', stream: log.stream } },
  })
  const subscribed = await injectAs(app, 'service', {
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: hooks.url, events: ['calendar-set.changed'] },
  })
  t.equal(subscribed.statusCode, 201, subscribed.body)
  t.equal((await putCalendars(app, 'u-hooked', calendarSet('h', 1))).statusCode, 200)
  await waitFor('two attempts', () => hooks.received.length >= 2, { timeoutMs: 10_000 })
  await tracing.flush()
  const [first, second] = hooks.received
  const failedSpan = await receiver.waitFor(
    (s) => s.name === 'webhook POST' && s.traceId === first?.traceparent?.split('-')[1],
  )
  t.equal(failedSpan.kind, CLIENT)
  t.equal(failedSpan.status.code, ERROR)
  t.equal(failedSpan.attributes['error.type'], 'http')
  t.equal(failedSpan.attributes['http.response.status_code'], 500)
  t.equal(failedSpan.attributes['rostersync.webhook.id'], first?.id)
  t.equal(first?.traceparent?.split('-')[2], failedSpan.spanId, 'the receiver got the attempt span as parent')
  const delivered = await receiver.waitFor(
    (s) => s.name === 'webhook POST' && s.traceId === second?.traceparent?.split('-')[1],
  )
  t.equal(delivered.attributes['rostersync.webhook.outcome'], 'delivered')
  t.equal(delivered.status.code, 0)
  const failedLine = log.lines.find((line) => String(line.msg).startsWith('webhook delivery failed'))
  t.match(failedLine?.msg, /^webhook delivery failed \(attempt 1, calendar-set.changed\): answered 500/)
  t.equal(failedLine?.trace_id, failedSpan.traceId, 'the line carries the attempt trace id')
})

test('stop tracing', async () => {
  await tracing.shutdown()
  await receiver.close()
})
