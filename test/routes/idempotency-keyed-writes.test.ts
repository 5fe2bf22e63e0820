import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { build } from '../helpers/build-app.ts'
import { calendarSet, getCalendars, putCalendars } from '../helpers/calendars.ts'
import { crewCallUrl, JOB, putCrewCall, putTechnicians, replaceRoster, roster } from '../helpers/crew.ts'
import { withClient } from '../helpers/database.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

/**
 * The keyed-write path (docs/api.md, Idempotency): a concurrent retry of a running key is answered at once
 * (409, or 422 for another request), never run twice; If-Match is part of the request a key stands for;
 * each key row carries the tenant of the rows its write protects.
 */

const KEY = 'idempotency-key'
const REPLAYED = 'idempotent-replayed'

const keyTenants = (databaseUrl: string) =>
  withClient(databaseUrl, async (c) => {
    const { rows } = await c.query<{ tenant: string; key: string }>(
      'SELECT tenant, key FROM idempotency_keys ORDER BY key',
    )
    return rows
  })

/** One request ran; every other got the documented 409 (with Retry-After) or its exact replay. */
function oneRan(t: Test, responses: LightMyRequestResponse[]) {
  const ran = responses.filter((r) => r.statusCode === 200 && r.headers[REPLAYED] === undefined)
  t.equal(ran.length, 1, 'exactly one request ran')
  const [executed] = ran
  for (const response of responses) {
    if (response === executed) continue
    if (response.statusCode === 409) {
      t.match(response.json(), { type: 'urn:rostersync:problem:idempotency-key-in-use' })
      t.ok(Number(response.headers['retry-after']) >= 1, 'with Retry-After')
    } else {
      t.equal(response.headers[REPLAYED], 'true', 'otherwise a replay')
      t.ok(response.rawPayload.equals(executed?.rawPayload ?? Buffer.alloc(0)), 'of the same bytes')
    }
  }
}

t.test('parallel requests with one key: one runs, the others get 409 or the replay', async (t) => {
  const { app } = await build(t)
  await putTechnicians(app, 4)
  await putCrewCall(app)
  await putCalendars(app, 'ana', calendarSet('old', 1))

  const calendars = await Promise.all(
    Array.from({ length: 12 }, () => putCalendars(app, 'ana', calendarSet('new', 3), { [KEY]: 'together' })),
  )
  oneRan(t, calendars)
  t.equal((await getCalendars(app, 'ana')).version, 2, 'the set moved by exactly one version')

  const rosters = await Promise.all(
    Array.from({ length: 12 }, () => replaceRoster(app, roster(4), 'sound', { [KEY]: 'together' })),
  )
  oneRan(t, rosters)
  const current = await app.inject({ method: 'GET', url: `${crewCallUrl()}/assignments` })
  t.equal(current.json().version, 1, 'the roster moved by exactly one version')
})

t.test('another request under a key whose first request runs is a 422 at once', async (t) => {
  const { app } = await build(t)
  const responses = await Promise.all([
    ...Array.from({ length: 6 }, () => putCalendars(app, 'bo', calendarSet('a', 2), { [KEY]: 'mixed' })),
    ...Array.from({ length: 6 }, () => putCalendars(app, 'bo', calendarSet('b', 2), { [KEY]: 'mixed' })),
  ])
  const ran = responses.filter((r) => r.statusCode === 200 && r.headers[REPLAYED] === undefined)
  t.equal(ran.length, 1, 'one request ran')
  t.ok(
    responses.every(
      (r) => r === ran[0] || [409, 422].includes(r.statusCode) || r.headers[REPLAYED] === 'true',
    ),
    'the others: 409 (the same request, running), 422 (another request) or the replay',
  )
  t.equal((await getCalendars(app, 'bo')).version, 1, 'one replace committed')
})

t.test('If-Match is part of the request a key stands for', async (t) => {
  const { app } = await build(t)
  await putCalendars(app, 'cy', calendarSet('a', 1))
  await putCalendars(app, 'cy', calendarSet('b', 1)) // version 2
  const at2 = await putCalendars(app, 'cy', calendarSet('c', 1), { [KEY]: 'k', 'if-match': '"2"' })
  t.equal(at2.statusCode, 200)
  t.equal(at2.headers.etag, '"3"')
  const at3 = await putCalendars(app, 'cy', calendarSet('c', 1), { [KEY]: 'k', 'if-match': '"3"' })
  t.equal(at3.statusCode, 422, 'the same key and body with another If-Match: another request')
  t.match(at3.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(at3.json(), {
    type: 'urn:rostersync:problem:idempotency-key-reused',
    detail: /another If-Match \("2"; this request: "3"\)/,
  })
  const none = await putCalendars(app, 'cy', calendarSet('c', 1), { [KEY]: 'k' })
  t.equal(none.statusCode, 422, 'and so is none')
  t.match(none.json(), { detail: /another If-Match \("2"; this request: none\)/ })
  const again = await putCalendars(app, 'cy', calendarSet('c', 1), { [KEY]: 'k', 'if-match': '"2"' })
  t.equal(again.headers[REPLAYED], 'true', 'the same If-Match replays')
  t.ok(again.rawPayload.equals(at2.rawPayload))
  t.equal((await getCalendars(app, 'cy')).version, 3, 'nothing else ran')
})

t.test('each key row carries the tenant of the rows its write protects', async (t) => {
  const { app, databaseUrl } = await build(t)
  await putTechnicians(app, 1)
  t.equal((await putCalendars(app, 'dee', calendarSet('a', 1), { [KEY]: 'calendar' })).statusCode, 200)
  t.equal(
    (
      await app.inject({
        method: 'PUT',
        url: crewCallUrl(),
        payload: { flexElementId: 'e-1' },
        headers: { [KEY]: 'crew-call' },
      })
    ).statusCode,
    201,
  )
  t.equal((await replaceRoster(app, roster(1), 'sound', { [KEY]: 'roster' })).statusCode, 200)
  t.equal(
    (
      await app.inject({
        method: 'PUT',
        url: '/v1/technicians/tech-9',
        payload: { name: 'Nine', flexResourceId: 'res-9' },
        headers: { [KEY]: 'technician' },
      })
    ).statusCode,
    201,
  )
  t.same(await keyTenants(databaseUrl), [
    { tenant: 'dee', key: 'calendar' },
    { tenant: JOB, key: 'crew-call' },
    { tenant: JOB, key: 'roster' },
    { tenant: 'tech-9', key: 'technician' },
  ])
})

t.test(
  'the crew-call PUT answers its version and ETag, honours If-Match, and replays with them',
  async (t) => {
    const { app } = await build(t)
    await putTechnicians(app, 2)
    const put = (headers: Record<string, string> = {}, flexElementId = 'element-1') =>
      app.inject({ method: 'PUT', url: crewCallUrl(), payload: { flexElementId }, headers })
    const stale = await put({ 'if-match': '"1"' })
    t.equal(stale.statusCode, 412, 'a crew call that does not exist is at version 0')
    const created = await put({ 'if-match': '"0"' })
    t.equal(created.statusCode, 201)
    t.equal(created.headers.etag, '"0"')
    t.match(created.json(), { jobId: JOB, department: 'sound', flexElementId: 'element-1', version: 0 })
    await replaceRoster(app, roster(2)) // version 1
    const unchanged = await put()
    t.equal(unchanged.statusCode, 200)
    t.equal(unchanged.headers.etag, '"1"', "the roster's version")
    t.equal(unchanged.json().version, 1)
    const refused = await put({ 'if-match': '"0"' }, 'element-2')
    t.equal(refused.statusCode, 412, 'a crew call that moved on is not changed')
    t.equal(refused.headers.etag, '"1"', 'the 412 names the current version')
    const moved = await put({ 'if-match': '"1"', [KEY]: 'move' }, 'element-2')
    t.equal(moved.statusCode, 200)
    t.equal(moved.json().flexElementId, 'element-2')
    const replay = await put({ 'if-match': '"1"', [KEY]: 'move' }, 'element-2')
    t.equal(replay.headers[REPLAYED], 'true')
    t.equal(replay.headers.etag, '"1"')
    t.ok(replay.rawPayload.equals(moved.rawPayload))
  },
)
