import { request as httpRequest, type IncomingMessage } from 'node:http'
import t from 'tap'
import { bodyShareBytes, loadConfig } from '../../src/config.ts'
import { build, injectAs, TEST_AUTHORIZATION, TEST_SERVICE_KEY } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl, getCalendars, putCalendars } from '../helpers/calendars.ts'
import { withClient } from '../helpers/database.ts'
import { metricSample } from '../helpers/metrics.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'
import { rawPut } from '../helpers/raw-http.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The memory budget of request bodies (src/plugins/body-budget.ts), over real sockets: bodies are
 * charged before they are read, a body that does not fit beside those in flight is answered 503 with
 * Retry-After without being read or written, and the budget is given back when an answer is sent or
 * a client goes away.
 */

const LIMIT = 64 * 1024
const BUDGET = 100 * 1024
const OTHER_KEY = 'other-service-key-0123456789'
const OTHER_AUTHORIZATION = `Bearer ${OTHER_KEY}`
/** Two service keys: `test` (TEST_AUTHORIZATION) and `other` (OTHER_AUTHORIZATION), two credentials. */
const TWO_CREDENTIALS = { AUTH_SERVICE_KEYS: `test:${TEST_SERVICE_KEY},other:${OTHER_KEY}` }

interface Answer {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

/** A PUT whose body is sent in two parts: `finish()` sends the rest; `abort()` drops the connection. */
function startPut(
  origin: string,
  path: string,
  body: string,
  { chunked = false, authorization = TEST_AUTHORIZATION } = {},
) {
  const bytes = Buffer.from(body)
  const req = httpRequest(`${origin}${path}`, {
    method: 'PUT',
    headers: {
      authorization,
      'content-type': 'application/json',
      ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(bytes.length) }),
    },
  })
  const answer = new Promise<Answer>((resolve, reject) => {
    req.once('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.once('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
      )
    })
    req.once('error', reject)
  })
  req.write(bytes.subarray(0, 10))
  return {
    answer,
    finish: () => req.end(bytes.subarray(10)),
    abort: () => req.destroy(),
  }
}

/** A body of about `bytes` bytes: calendars whose descriptions fill it. */
function bodyOf(prefix: string, bytes: number): string {
  const count = 10
  const description = 'd'.repeat(Math.max(0, Math.floor(bytes / count) - 120))
  return JSON.stringify({ calendars: calendarSet(prefix, count, { description }) })
}

t.test(
  'a body that does not fit beside those in flight is a 503 with Retry-After, unread and unwritten',
  async (t) => {
    const { app } = await build(t, {
      env: { BODY_LIMIT_BYTES: String(LIMIT), BODY_BYTES_IN_FLIGHT: String(BUDGET), ...TWO_CREDENTIALS },
    })
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })

    const held = bodyOf('a', 60_000)
    const first = startPut(origin, calendarsUrl('held'), held)
    await waitFor('the first body to be charged', () => app.bodyBytesInFlight() > 0)
    t.equal(
      app.bodyBytesInFlight(),
      Buffer.byteLength(held),
      'charged by its Content-Length before it was read',
    )

    const refused = startPut(origin, calendarsUrl('refused'), bodyOf('b', 60_000), {
      authorization: OTHER_AUTHORIZATION,
    })
    refused.finish()
    const answer = await refused.answer
    t.equal(answer.status, 503)
    t.match(answer.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.equal(answer.headers['retry-after'], '1', 'told when to retry')
    t.match(JSON.parse(answer.body), { detail: /BODY_BYTES_IN_FLIGHT/ })
    t.equal((await getCalendars(app, 'refused')).version, 0, 'nothing written')

    const small = await injectAs(app, 'service', {
      method: 'PUT',
      url: calendarsUrl('small'),
      payload: { calendars: calendarSet('s', 2) },
    })
    t.equal(small.statusCode, 200, 'a body that fits beside it goes on')

    first.finish()
    t.equal((await first.answer).status, 200, 'the body in flight is answered')
    await waitFor('its charge to be given back', () => app.bodyBytesInFlight() === 0)
    const retried = startPut(origin, calendarsUrl('refused'), bodyOf('b', 60_000))
    retried.finish()
    t.equal((await retried.answer).status, 200, 'the retry fits once the budget is free')
  },
)

t.test('a chunked body is charged the whole body limit', async (t) => {
  const { app } = await build(t, {
    env: { BODY_LIMIT_BYTES: String(LIMIT), BODY_BYTES_IN_FLIGHT: String(BUDGET), ...TWO_CREDENTIALS },
  })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  const chunked = startPut(origin, calendarsUrl('chunked'), bodyOf('c', 1_000), { chunked: true })
  await waitFor('the chunked body to be charged', () => app.bodyBytesInFlight() === LIMIT)
  const second = startPut(origin, calendarsUrl('second'), bodyOf('d', 40_000), {
    authorization: OTHER_AUTHORIZATION,
  })
  second.finish()
  t.equal((await second.answer).status, 503, 'the limit plus 40 KB is over the budget')
  chunked.finish()
  t.equal((await chunked.answer).status, 200)
})

t.test(
  "one credential holds at most its share of the budget, and another credential's body fits beside it",
  async (t) => {
    const { app } = await build(t, {
      env: { BODY_LIMIT_BYTES: String(LIMIT), BODY_BYTES_IN_FLIGHT: String(BUDGET), ...TWO_CREDENTIALS },
    })
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })

    const held = startPut(origin, calendarsUrl('held'), bodyOf('a', 60_000))
    await waitFor('the first body to be charged', () => app.bodyBytesInFlight() > 0)

    const overShare = startPut(origin, calendarsUrl('over-share'), bodyOf('b', 10_000))
    overShare.finish()
    const refused = await overShare.answer
    t.equal(refused.status, 503, 'the same credential over its share (the body limit, 64 KB) is refused')
    t.match(refused.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.equal(refused.headers['retry-after'], '1', 'told when to retry')
    t.match(JSON.parse(refused.body), { detail: /BODY_BYTES_PER_CREDENTIAL/ })
    t.equal((await getCalendars(app, 'over-share')).version, 0, 'nothing written')

    const other = startPut(origin, calendarsUrl('other'), bodyOf('c', 30_000), {
      authorization: OTHER_AUTHORIZATION,
    })
    other.finish()
    t.equal(
      (await other.answer).status,
      200,
      "another credential's body is admitted while the first's is held",
    )

    held.finish()
    t.equal((await held.answer).status, 200, 'the held body is answered when it arrives')
    await waitFor('every charge to be given back', () => app.bodyBytesInFlight() === 0)
  },
)

t.test('a client that goes away mid-body gives its charge back', async (t) => {
  const { app } = await build(t, {
    env: { BODY_LIMIT_BYTES: String(LIMIT), BODY_BYTES_IN_FLIGHT: String(BUDGET) },
  })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  const abandoned = startPut(origin, calendarsUrl('gone'), bodyOf('g', 60_000))
  abandoned.answer.catch(() => {})
  await waitFor('the body to be charged', () => app.bodyBytesInFlight() > 0)
  abandoned.abort()
  await waitFor('its charge to be given back', () => app.bodyBytesInFlight() === 0)
  t.equal((await getCalendars(app, 'gone')).version, 0, 'nothing written')
})

t.test(
  'a body that arrived with its headers is charged until it is answered, or until its client leaves',
  async (t) => {
    const { app, databaseUrl } = await build(t, {
      env: { BODY_LIMIT_BYTES: String(LIMIT), BODY_BYTES_IN_FLIGHT: String(BUDGET) },
    })
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })
    for (const userId of ['answered', 'left']) {
      t.equal((await putCalendars(app, userId, calendarSet('a', 1))).statusCode, 200)
    }
    /** The whole request, headers and body, in one write: its body is in Node's buffer before it is parsed. */
    const sendWhole = (userId: string, body: string) => {
      const put = rawPut(origin, calendarsUrl(userId), Buffer.byteLength(body), body)
      put.answer.catch(() => {}) // settles only if the server closes: these connections are kept alive
      return put
    }
    const bytesBy = async (outcome: string) =>
      metricSample(
        await app.metrics.registry.metrics(),
        `rostersync_request_body_bytes_total{outcome="${outcome}"}`,
      ) ?? 0

    // Each replace waits for its user's lock, held here, so its charge can be seen while it is in flight.
    await withClient(databaseUrl, async (holder) => {
      const body = JSON.stringify({ calendars: calendarSet('b', 3) })
      await holder.query('BEGIN')
      await holder.query(`SELECT * FROM calendar_sets WHERE user_id = 'answered' FOR UPDATE`)
      const answeredBefore = await bytesBy('answered')
      const whole = sendWhole('answered', body)
      await waitFor('the body to be charged', () => app.bodyBytesInFlight() > 0)
      t.equal(app.bodyBytesInFlight(), Buffer.byteLength(body), 'charged by its Content-Length')
      await holder.query('ROLLBACK')
      const answer = await whole.received()
      t.equal(answer.status, 200)
      t.match(JSON.parse(answer.body), { version: 2 })
      await waitFor('its charge to be given back', () => app.bodyBytesInFlight() === 0)
      t.equal(await bytesBy('answered'), answeredBefore + Buffer.byteLength(body), 'counted as answered')
      whole.socket.destroy()

      await holder.query('BEGIN')
      await holder.query(`SELECT * FROM calendar_sets WHERE user_id = 'left' FOR UPDATE`)
      const abandonedBefore = await bytesBy('abandoned')
      const leaving = sendWhole('left', body)
      await waitFor('the body to be charged', () => app.bodyBytesInFlight() > 0)
      leaving.socket.destroy()
      await waitFor('its charge to be given back', () => app.bodyBytesInFlight() === 0)
      t.equal(await bytesBy('abandoned'), abandonedBefore + Buffer.byteLength(body), 'counted as abandoned')
      await holder.query('ROLLBACK')
    })
  },
)

t.test('one body alone always fits, and bodies over the limit are refused unread, uncharged', async (t) => {
  const { app } = await build(t, {
    env: { BODY_LIMIT_BYTES: String(LIMIT), BODY_BYTES_IN_FLIGHT: String(LIMIT) },
  })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const full = startPut(origin, calendarsUrl('full'), bodyOf('f', LIMIT - 200))
  full.finish()
  t.equal((await full.answer).status, 200, 'a body of the largest size fits an idle budget')

  const over = startPut(origin, calendarsUrl('over'), bodyOf('o', LIMIT + 1_000))
  over.finish()
  t.equal((await over.answer).status, 413)
  t.equal(app.bodyBytesInFlight(), 0)
})

t.test('the budget must hold a body of the largest size, and so must a share', async (t) => {
  t.throws(
    () => loadConfig({ BODY_LIMIT_BYTES: '2048', BODY_BYTES_IN_FLIGHT: '1024' }),
    /BODY_BYTES_IN_FLIGHT: must be at least BODY_LIMIT_BYTES/,
  )
  t.throws(
    () => loadConfig({ BODY_LIMIT_BYTES: '2048', BODY_BYTES_PER_CREDENTIAL: '1024' }),
    /BODY_BYTES_PER_CREDENTIAL: must be at least BODY_LIMIT_BYTES/,
  )
  t.throws(
    () =>
      loadConfig({
        BODY_LIMIT_BYTES: '2048',
        BODY_BYTES_IN_FLIGHT: '4096',
        BODY_BYTES_PER_CREDENTIAL: '8192',
      }),
    /BODY_BYTES_PER_CREDENTIAL: must be at most BODY_BYTES_IN_FLIGHT/,
  )
  t.equal(
    bodyShareBytes(loadConfig({})),
    16 * 1024 * 1024 - 4 * 1024 * 1024,
    'unset: the budget but one body of the largest size',
  )
  t.equal(
    bodyShareBytes(loadConfig({ BODY_LIMIT_BYTES: '4096', BODY_BYTES_IN_FLIGHT: '6144' })),
    4096,
    'and never less than one body of the largest size',
  )
})
