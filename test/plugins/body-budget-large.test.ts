import { request as httpRequest } from 'node:http'
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { build, TEST_AUTHORIZATION, TEST_SERVICE_KEY } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl, getCalendars, ids } from '../helpers/calendars.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Large bodies admitted at once with the default budget (issue 21): since a calendar PUT's body goes to
 * PostgreSQL as the bytes that came (src/plugins/json-body.ts takeJsonBody, src/db/body-statement.ts),
 * BODY_BYTES_IN_FLIGHT holds four bodies of 10,000 calendars (3.6 MB) at once. Six such bodies sent at
 * once over real sockets by two credentials: four are charged together (the server's own count of the
 * bytes in flight, as its metric reports it), the other two are answered 503 unread, and every set is
 * whole afterwards (the one sent when answered 200, none when refused).
 */

const OTHER_KEY = 'other-service-key-0123456789'
const CALENDARS = 10_000
const BODY_BYTES = 3_600_000
const SENT = 6

t.test('four bodies of 10,000 calendars (3.6 MB) are admitted at once; every set whole', async (t) => {
  const config = loadConfig({})
  t.ok(4 * BODY_BYTES <= config.BODY_BYTES_IN_FLIGHT, 'the default budget holds four')
  t.ok(5 * BODY_BYTES > config.BODY_BYTES_IN_FLIGHT, 'and not five')

  const { app } = await build(t, {
    env: {
      AUTH_SERVICE_KEYS: `test:${TEST_SERVICE_KEY},other:${OTHER_KEY}`,
      // Four replaces of 10,000 calendars at once on a loaded test machine: room beyond the 15 s default.
      DB_STATEMENT_TIMEOUT_MS: '300000',
    },
  })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  const plain = JSON.stringify({ calendars: calendarSet('x', CALENDARS) }).length
  const description = 'd'.repeat(Math.floor((BODY_BYTES - plain) / CALENDARS) - 20)
  const bodies = Array.from({ length: SENT }, (_, i) =>
    Buffer.from(JSON.stringify({ calendars: calendarSet(`u${i}`, CALENDARS, { description }) })),
  )
  for (const body of bodies) t.ok(body.length > 3_500_000 && body.length <= BODY_BYTES, 'about 3.6 MB')

  // Each request sends its headers and 10 bytes of its body, and waits: charged, or answered 503.
  const puts = bodies.map((body, i) => {
    const req = httpRequest(`${origin}${calendarsUrl(`u${i}`)}`, {
      method: 'PUT',
      headers: {
        authorization: i % 2 === 0 ? TEST_AUTHORIZATION : `Bearer ${OTHER_KEY}`,
        'content-type': 'application/json',
        'content-length': String(body.length),
      },
    })
    const put = {
      settled: false,
      answer: new Promise<{ status: number; body: string; contentType?: string }>((resolve, reject) => {
        req.once('response', (response) => {
          let text = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => (text += chunk))
          response.once('end', () => {
            put.settled = true
            resolve({
              status: response.statusCode ?? 0,
              body: text,
              contentType: response.headers['content-type'],
            })
          })
        })
        req.once('error', reject)
      }),
      finish: () => req.end(body.subarray(10)),
      abort: () => req.destroy(),
    }
    req.write(body.subarray(0, 10))
    return put
  })

  const total = (admitted: number[]) => admitted.reduce((sum, i) => sum + (bodies[i]?.length ?? 0), 0)
  await waitFor('four bodies charged and two answered', () => puts.filter((p) => p.settled).length === 2)
  const refused = puts.flatMap((p, i) => (p.settled ? [i] : []))
  const admitted = puts.flatMap((p, i) => (p.settled ? [] : [i]))
  await waitFor('the four admitted to be charged', () => app.bodyBytesInFlight() === total(admitted))
  t.equal(admitted.length, 4, 'four bodies admitted at once')
  t.equal(app.bodyBytesInFlight(), total(admitted), 'all four charged to the budget together')
  for (const i of refused) {
    const answer = await puts[i]?.answer
    t.equal(answer?.status, 503, `body ${i}: refused`)
    t.match(answer?.contentType, PROBLEM_CONTENT_TYPE)
    t.match(answer?.body, /BODY_BYTES_IN_FLIGHT/)
    puts[i]?.abort()
  }

  for (const i of admitted) puts[i]?.finish()
  for (const i of admitted) t.equal((await puts[i]?.answer)?.status, 200, `body ${i}: replaced`)
  await waitFor('every charge given back', () => app.bodyBytesInFlight() === 0)

  for (const [i] of bodies.entries()) {
    const set = await getCalendars(app, `u${i}`)
    if (admitted.includes(i)) {
      t.equal(set.version, 1, `u${i}: one version`)
      t.same(ids(set.calendars), ids(calendarSet(`u${i}`, CALENDARS)), `u${i}: the whole set sent`)
      t.equal(set.calendars[0]?.description, description, `u${i}: as sent`)
    } else t.equal(set.version, 0, `u${i}: nothing written`)
  }
})
