import { connect } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, injectAs, TEST_SERVICE_KEY } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl, getCalendars } from '../helpers/calendars.ts'
import { captureLog } from '../helpers/log-capture.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'
import { parseAnswer, rawPut } from '../helpers/raw-http.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The body's read deadline and the fair share (src/plugins/body-budget.ts, body-read-deadline.ts), over
 * raw sockets, so a test can stall mid-body and see the connection close: a body that stalls, never
 * starts or takes too long is answered 408 problem+json, its connection closed and its charge given back
 * at once; a slow but steady one succeeds; while one credential stalls a body of the largest size,
 * another's large replace is answered 200; headers that never end get their 408 too.
 */

const OTHER_KEY = 'other-service-key-0123456789'
const TWO_CREDENTIALS = { AUTH_SERVICE_KEYS: `test:${TEST_SERVICE_KEY},other:${OTHER_KEY}` }
/** What the machine's load may add to a deadline (2 shared cores): generous, and still far below a hang. */
const SLACK_MS = 5_000

async function metricsText(app: FastifyInstance) {
  return (await injectAs(app, 'service', { method: 'GET', url: '/metrics' })).body
}

t.test(
  'a body that stalls mid-way gets its 408 and gives its charge back within the idle deadline',
  async (t) => {
    const log = captureLog()
    const { app } = await build(t, {
      env: { BODY_IDLE_TIMEOUT_MS: '500', BODY_READ_TIMEOUT_MS: '3000', LOG_LEVEL: 'info' },
      overrides: { logger: { level: 'info', stream: log.stream } },
    })
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })

    const startedAt = Date.now()
    const stalled = rawPut(origin, calendarsUrl('stalled'), 60_000, '{"calendars"')
    await waitFor('the body to be charged', () => app.bodyBytesInFlight() === 60_000)
    const answer = await stalled.answer
    t.equal(answer.status, 408)
    t.match(answer.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.equal(answer.headers.connection, 'close', 'the answer says the connection closes')
    t.match(JSON.parse(answer.body), {
      type: 'urn:rostersync:problem:request-timeout',
      status: 408,
      detail: /BODY_IDLE_TIMEOUT_MS \(500 ms\) after 12 bytes; send the request again/,
    })
    t.ok(
      answer.closedAt - startedAt < 500 + SLACK_MS,
      'answered and closed within the idle deadline (+ slack)',
    )
    t.equal(app.bodyBytesInFlight(), 0, 'its charge was given back by the time the answer arrived')
    t.equal((await getCalendars(app, 'stalled')).version, 0, 'nothing written')

    const metrics = await metricsText(app)
    t.match(metrics, /rostersync_request_bodies_timed_out_total\{reason="idle"\} 1/)
    t.match(metrics, /rostersync_request_body_bytes_total\{outcome="timed_out"\} 60000/)
    t.match(metrics, /rostersync_request_body_bytes_in_flight 0/)
    const line = log.lines.find((entry) => entry.msg?.includes('did not arrive in time'))
    t.match(line, { credential: 'service:test', reason: 'idle', receivedBytes: 12, declaredBytes: 60_000 })
    t.notOk(JSON.stringify(log.lines).includes(TEST_SERVICE_KEY), 'the log never holds the secret')
  },
)

t.test('a body that never starts is answered 408 too', async (t) => {
  const { app } = await build(t, { env: { BODY_IDLE_TIMEOUT_MS: '500', BODY_READ_TIMEOUT_MS: '3000' } })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const startedAt = Date.now()
  const silent = rawPut(origin, calendarsUrl('silent'), 1_000)
  const answer = await silent.answer
  t.equal(answer.status, 408)
  t.match(JSON.parse(answer.body), { detail: /after 0 bytes/ })
  t.ok(answer.closedAt - startedAt < 500 + SLACK_MS, 'within the idle deadline (+ slack)')
  t.equal(app.bodyBytesInFlight(), 0)
})

t.test('a body that keeps trickling past the read deadline is answered 408', async (t) => {
  const { app } = await build(t, { env: { BODY_IDLE_TIMEOUT_MS: '1000', BODY_READ_TIMEOUT_MS: '1500' } })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const startedAt = Date.now()
  const trickle = rawPut(origin, calendarsUrl('trickle'), 10_000, '{')
  let open = true
  trickle.answer.finally(() => {
    open = false
  })
  const sending = (async () => {
    while (open) {
      await delay(100)
      if (open && !trickle.socket.destroyed) trickle.send(' ')
    }
  })()
  const answer = await trickle.answer
  await sending
  t.equal(answer.status, 408)
  t.match(JSON.parse(answer.body), { detail: /did not arrive within BODY_READ_TIMEOUT_MS \(1500 ms\)/ })
  t.ok(answer.closedAt - startedAt >= 1_500, 'not before the read deadline: it never paused for long')
  t.ok(answer.closedAt - startedAt < 1_500 + SLACK_MS, 'within the read deadline (+ slack)')
  t.match(await metricsText(app), /rostersync_request_bodies_timed_out_total\{reason="deadline"\} 1/)
})

t.test('a slow but steady body under both deadlines succeeds', async (t) => {
  const { app } = await build(t, { env: { BODY_IDLE_TIMEOUT_MS: '1000', BODY_READ_TIMEOUT_MS: '20000' } })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const body = JSON.stringify({ calendars: calendarSet('slow', 40) })
  const pieces = 10
  const size = Math.ceil(body.length / pieces)
  const slow = rawPut(origin, calendarsUrl('slow'), Buffer.byteLength(body))
  for (let i = 0; i < pieces; i++) {
    await delay(250) // 2.5 s in all: longer than the idle deadline, but never a pause that long
    slow.send(body.slice(i * size, (i + 1) * size))
  }
  const answer = await slow.received()
  slow.socket.destroy()
  t.equal(answer.status, 200)
  t.equal((await getCalendars(app, 'slow')).calendars.length, 40)
})

t.test(
  "while one credential stalls 4 MB announcements up to its share, another credential's 1.8 MB replace is answered 200",
  async (t) => {
    // The budget's defaults (BODY_LIMIT_BYTES, BODY_BYTES_IN_FLIGHT, BODY_BYTES_PER_CREDENTIAL: 16 MiB, of
    // which one credential holds all but 4 MiB); only the idle deadline is shortened so the test need not
    // wait 10 s.
    const { app } = await build(t, { env: { ...TWO_CREDENTIALS, BODY_IDLE_TIMEOUT_MS: '3000' } })
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })

    const stalledBodies = [0, 1, 2].map((i) =>
      rawPut(origin, calendarsUrl(`attacker-${i}`), 4_000_000, '{"calendars"'),
    )
    await waitFor('the stalled bodies to be charged', () => app.bodyBytesInFlight() === 12_000_000)
    const over = rawPut(origin, calendarsUrl('attacker-over'), 1_000_000, '{"calendars"')
    const refused = await over.received()
    over.socket.destroy()
    t.equal(refused.status, 503, "the same credential's next announcement is over its share")
    t.match(JSON.parse(refused.body), { detail: /BODY_BYTES_PER_CREDENTIAL/ })
    let stalledEnded = false
    Promise.all(stalledBodies.map((stalled) => stalled.answer)).finally(() => {
      stalledEnded = true
    })

    const description = 'd'.repeat(240)
    const payload = { calendars: calendarSet('large', 6_000, { description }) }
    t.ok(JSON.stringify(payload).length > 1_800_000, 'a 1.8 MB set of 6,000 calendars')
    const large = await injectAs(app, 'headers', {
      method: 'PUT',
      url: calendarsUrl('victim'),
      payload,
      headers: { authorization: `Bearer ${OTHER_KEY}` },
    })
    t.equal(large.statusCode, 200, "the other credential's replace is admitted and written")
    t.notOk(stalledEnded, 'while the stalled body still held its charge')
    t.equal((await getCalendars(app, 'victim')).calendars.length, 6_000)

    for (const stalled of stalledBodies) {
      const answer = await stalled.answer
      t.equal(answer.status, 408, 'a stalled request ends with its 408 when its idle deadline runs out')
    }
    t.equal(app.bodyBytesInFlight(), 0)
  },
)

t.test('headers that never end are answered 408 problem+json, the connection closed', async (t) => {
  const { app } = await build(t, { env: { HEADERS_TIMEOUT_MS: '500' } })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const { hostname, port } = new URL(origin)
  const startedAt = Date.now()
  const socket = connect(Number(port), hostname)
  socket.write(`PUT ${calendarsUrl('slowloris')} HTTP/1.1\r\nHost: ${hostname}\r\nX-Pending: `)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  await new Promise((resolve) => socket.once('end', resolve))
  const answer = parseAnswer(Buffer.concat(chunks).toString('utf8'))
  t.equal(answer.status, 408)
  t.match(answer.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(JSON.parse(answer.body), {
    type: 'urn:rostersync:problem:request-timeout',
    detail: /HEADERS_TIMEOUT_MS/,
  })
  // Node checks its connections once a second (app.ts): the deadline plus that, plus slack.
  t.ok(Date.now() - startedAt < 500 + 1_000 + SLACK_MS, 'within the headers deadline (+ slack)')
})
