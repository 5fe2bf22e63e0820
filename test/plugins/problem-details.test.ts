import t from 'tap'
import type { CalendarService } from '../../src/services/calendars/calendar-service.ts'
import { build, injectAs } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl, putCalendars } from '../helpers/calendars.ts'
import { captureLog } from '../helpers/log-capture.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

const SECRET = 'secret internal detail'

t.test('an unexpected error answers 500 without internals and is logged with the request id', async (t) => {
  const log = captureLog()
  const fail = async () => {
    throw new Error(SECRET)
  }
  const calendars = { get: fail, replace: fail } as unknown as CalendarService
  const { app } = await build(t, {
    overrides: { services: { calendars }, logger: { level: 'info', stream: log.stream } },
  })
  const requests = {
    GET: () => injectAs(app, 'service', { method: 'GET', url: calendarsUrl('u') }),
    PUT: () => putCalendars(app, 'u', calendarSet('c', 1)),
  }

  for (const [method, send] of Object.entries(requests)) {
    t.test(method, async (t) => {
      const response = await send()
      const requestId = response.headers['x-request-id']
      t.equal(response.statusCode, 500)
      t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
      t.match(response.json(), { type: 'urn:rostersync:problem:internal', status: 500, requestId })
      t.notMatch(response.body, /secret|\.ts:\d+/i, 'neither the message nor a stack reaches the client')
      t.ok(
        log.lines.some(
          (line) => line.level === 50 && line.reqId === requestId && line.err?.message === SECRET,
        ),
        'the error is logged at level 50 with the request id',
      )
    })
  }
})

t.test('a body that is not JSON', async (t) => {
  const { app } = await build(t)
  const put = (contentType: string, payload: string) =>
    injectAs(app, 'service', {
      method: 'PUT',
      url: calendarsUrl('u'),
      headers: { 'content-type': contentType },
      payload,
    })

  t.test('malformed JSON answers 400 malformed-request', async (t) => {
    const response = await put('application/json', '{"calendars": [')
    t.equal(response.statusCode, 400)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.match(response.json(), { type: 'urn:rostersync:problem:malformed-request', status: 400 })
  })

  t.test('text/plain answers 415 unsupported-media-type, naming the media type to send', async (t) => {
    const response = await put('text/plain', '{"calendars": []}')
    t.equal(response.statusCode, 415)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.match(response.json(), { type: 'urn:rostersync:problem:unsupported-media-type', status: 415 })
    t.equal(
      response.json().detail,
      'the body\'s media type "text/plain" is not accepted: send JSON, with Content-Type: application/json; charset=utf-8',
    )
  })
})

t.test('a body over BODY_LIMIT_BYTES answers 413 problem+json', async (t) => {
  const { app } = await build(t, { env: { BODY_LIMIT_BYTES: '2048' } })
  t.equal((await putCalendars(app, 'u', calendarSet('c', 1))).statusCode, 200, 'a small body is accepted')

  const tooLarge = await putCalendars(app, 'u', calendarSet('c', 100))
  t.equal(tooLarge.statusCode, 413)
  t.match(tooLarge.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(tooLarge.json(), { type: 'urn:rostersync:problem:payload-too-large', status: 413 })
  t.match(
    tooLarge.json().detail,
    /^the body is \d+ bytes \(Content-Length\); the limit is 2048 bytes \(0\.00195 MiB, BODY_LIMIT_BYTES\): send a body of at most 2048 bytes$/,
  )
})
