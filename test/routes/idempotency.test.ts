import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { build } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl, getCalendars, ids, putCalendars } from '../helpers/calendars.ts'
import {
  crewCallUrl,
  crewWorld,
  putCrewCall,
  putTechnicians,
  replaceRoster,
  resourceId,
  roster,
} from '../helpers/crew.ts'
import { withClient } from '../helpers/database.ts'
import { failOn } from '../helpers/db-faults.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * Idempotency-Key on POST, PUT and DELETE: the first request runs and its response is kept; a retry with the
 * same key and body gets the same bytes back (Idempotent-Replayed: true) and runs nothing; the same
 * key with another body is a 422, while the first still runs a 409; a malformed key a 400.
 */

const KEY = 'idempotency-key'
const REPLAYED = 'idempotent-replayed'

interface KeyRow {
  scope: string
  key: string
  state: string
  response_status: number | null
  response_body: Buffer | null
}

const keyRows = (databaseUrl: string, key?: string) =>
  withClient(databaseUrl, async (c) => {
    const { rows } = await c.query<KeyRow>(
      `SELECT scope, key, state, response_status, response_body FROM idempotency_keys
        WHERE $1::text IS NULL OR key = $1 ORDER BY scope, key`,
      [key ?? null],
    )
    return rows
  })

const syncRunCount = (databaseUrl: string) =>
  withClient(databaseUrl, async (c) => {
    const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_runs')
    return rows[0]?.n ?? 0
  })

function syncWithKey(app: FastifyInstance, key: string, query = '') {
  return app.inject({ method: 'POST', url: `${crewCallUrl()}/sync${query}`, headers: { [KEY]: key } })
}

/** The retry got the first response back, byte for byte, marked as a replay. */
function assertReplay(t: Test, first: LightMyRequestResponse, again: LightMyRequestResponse) {
  t.equal(again.statusCode, first.statusCode, 'the same status')
  t.ok(again.rawPayload.equals(first.rawPayload), 'the identical body bytes')
  t.equal(again.headers['content-type'], first.headers['content-type'], 'the same content type')
  t.equal(again.headers.etag, first.headers.etag, 'the same ETag')
  t.equal(again.headers[REPLAYED], 'true', 'Idempotent-Replayed: true')
  t.equal(first.headers[REPLAYED], undefined, 'the first answer is no replay')
}

/** Blocks replaces of `userId` (holding its calendar_sets row) while `work` runs. */
async function holdingUserLock<T>(databaseUrl: string, userId: string, work: () => Promise<T>): Promise<T> {
  return withClient(databaseUrl, async (holder) => {
    await holder.query('BEGIN')
    await holder.query('SELECT * FROM calendar_sets WHERE user_id = $1 FOR UPDATE', [userId])
    try {
      return await work()
    } finally {
      await holder.query('ROLLBACK')
    }
  })
}

const blockedOnLock = (databaseUrl: string) =>
  waitFor('a replace to wait for the user lock', () =>
    withClient(databaseUrl, async (c) => {
      const { rows } = await c.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'rostersync' AND wait_event_type = 'Lock'`,
      )
      return rows.length > 0
    }),
  )

t.test('a retry with the same key and body replays the kept response and writes nothing', async (t) => {
  const { app, databaseUrl } = await build(t)
  const first = await putCalendars(app, 'ana', calendarSet('a', 3), { [KEY]: 'replace-1' })
  t.equal(first.statusCode, 200)
  t.equal(first.headers.etag, '"1"')

  const [row] = await keyRows(databaseUrl, 'replace-1')
  t.match(row, {
    scope: 'service:test PUT /v1/users/ana/calendars',
    state: 'completed',
    response_status: 200,
  })
  t.ok(row?.response_body?.equals(first.rawPayload), 'the exact bytes sent are kept')

  // Someone else changes the set: running the retry again would put set a back.
  t.equal((await putCalendars(app, 'ana', calendarSet('b', 1))).statusCode, 200)
  const again = await putCalendars(app, 'ana', calendarSet('a', 3), { [KEY]: 'replace-1' })
  assertReplay(t, first, again)
  const now = await getCalendars(app, 'ana')
  t.equal(now.version, 2, 'the version did not move')
  t.same(ids(now.calendars), ['b-0'], 'the replay did not run the replace')
})

t.test('a sync retried with its key replays the run: one run recorded, Flex called once', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 2)
  await replaceRoster(app, roster(2))
  const first = await syncWithKey(app, 'sync-1')
  t.equal(first.statusCode, 200)
  t.match(first.json(), { run: { status: 'succeeded' } })
  const flexCalls = flex.calls.length
  t.ok(flexCalls > 0, 'the sync called Flex')

  const again = await syncWithKey(app, 'sync-1')
  assertReplay(t, first, again)
  t.equal(flex.calls.length, flexCalls, 'the replay made no Flex call')
  t.equal(await syncRunCount(databaseUrl), 1, 'one run recorded')

  const dryRun = await syncWithKey(app, 'sync-1', '?dryRun=true')
  t.equal(dryRun.statusCode, 422, 'another query under the same key is another request')
  t.match(dryRun.json(), { type: 'urn:rostersync:problem:idempotency-key-reused' })
})

t.test('the same key with another body is a 422 and writes nothing', async (t) => {
  const { app } = await build(t)
  const first = await putCalendars(app, 'bea', calendarSet('a', 2), { [KEY]: 'k' })
  t.equal(first.statusCode, 200)
  const other = await putCalendars(app, 'bea', calendarSet('z', 2), { [KEY]: 'k' })
  t.equal(other.statusCode, 422)
  t.match(other.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(other.json(), {
    type: 'urn:rostersync:problem:idempotency-key-reused',
    status: 422,
    detail: /another body/,
    instance: '/v1/users/bea/calendars',
  })
  t.equal(other.headers[REPLAYED], undefined)
  t.same(ids((await getCalendars(app, 'bea')).calendars), ['a-0', 'a-1'], 'nothing written')
})

t.test('the same key while the first request runs is a 409 with Retry-After', async (t) => {
  const { app, databaseUrl } = await build(t)
  await putCalendars(app, 'cy', calendarSet('old', 1))
  const { first, second, otherBody } = await holdingUserLock(databaseUrl, 'cy', async () => {
    const first = putCalendars(app, 'cy', calendarSet('new', 2), { [KEY]: 'slow' })
    await blockedOnLock(databaseUrl)
    const second = await putCalendars(app, 'cy', calendarSet('new', 2), { [KEY]: 'slow' })
    const otherBody = await putCalendars(app, 'cy', calendarSet('x', 1), { [KEY]: 'slow' })
    return { first, second, otherBody }
  })
  t.equal(second.statusCode, 409)
  t.match(second.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(second.json(), { type: 'urn:rostersync:problem:idempotency-key-in-use', status: 409 })
  t.ok(Number(second.headers['retry-after']) >= 1, 'Retry-After in seconds')
  t.equal(otherBody.statusCode, 422, 'another body under a running key is still a 422')

  const finished = await first
  t.equal(finished.statusCode, 200, 'the first request finished once the lock was free')
  const again = await putCalendars(app, 'cy', calendarSet('new', 2), { [KEY]: 'slow' })
  assertReplay(t, finished, again)
  t.equal((await getCalendars(app, 'cy')).version, 2, 'one replace ran')
})

t.test('a malformed key is a 400 naming the header, and nothing is written or kept', async (t) => {
  const { app, databaseUrl } = await build(t)
  for (const key of ['', 'x'.repeat(256), 'has space', 'caf\u00e9']) {
    const response = await putCalendars(app, 'dee', calendarSet('a', 1), { [KEY]: key })
    t.equal(response.statusCode, 400, `${JSON.stringify(key.slice(0, 20))} is refused`)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.match(response.json(), {
      type: 'urn:rostersync:problem:validation',
      errors: [{ in: 'header', pointer: '/idempotency-key' }],
    })
    t.ok(
      response
        .json()
        .errors.some((error: { detail: string }) => /1-255 visible ASCII|at most 255/.test(error.detail)),
      'the detail says what a key must be',
    )
  }
  t.equal((await getCalendars(app, 'dee')).version, 0, 'nothing written')
  t.same(await keyRows(databaseUrl), [], 'nothing kept')
  const longest = await putCalendars(app, 'dee', calendarSet('a', 1), { [KEY]: '~'.repeat(255) })
  t.equal(longest.statusCode, 200, 'a key of 255 visible characters is fine')
})

t.test('keys are scoped by credential and by path', async (t) => {
  const secret = 'a-test-secret-of-at-least-32-bytes!!'
  const { app, databaseUrl } = await build(t, {
    env: {
      AUTH_SERVICE_KEYS: 'one:service-key-one-0123456789,two:service-key-two-0123456789',
      AUTH_JWT_SECRET: secret,
    },
  })
  const jwt = await new SignJWT({ sub: 'eve' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret))
  const as = (authorization: string) => ({ authorization, [KEY]: 'shared' })

  const one = await putCalendars(app, 'eve', calendarSet('one', 1), as('Bearer service-key-one-0123456789'))
  const two = await putCalendars(app, 'eve', calendarSet('two', 1), as('Bearer service-key-two-0123456789'))
  const user = await putCalendars(app, 'eve', calendarSet('eve', 1), as(`Bearer ${jwt}`))
  const path = await putCalendars(app, 'fay', calendarSet('one', 1), as('Bearer service-key-one-0123456789'))
  for (const [name, response] of Object.entries({ one, two, user, path })) {
    t.equal(response.statusCode, 200, `${name}: ran (no 422)`)
    t.equal(response.headers[REPLAYED], undefined, `${name}: no replay`)
  }
  const eve = await app.inject({
    method: 'GET',
    url: calendarsUrl('eve'),
    headers: { authorization: 'Bearer service-key-one-0123456789' },
  })
  t.equal(eve.json().version, 3, 'three replaces of eve ran')
  t.same(
    (await keyRows(databaseUrl, 'shared')).map((row) => row.scope),
    [
      'service:one PUT /v1/users/eve/calendars',
      'service:one PUT /v1/users/fay/calendars',
      'service:two PUT /v1/users/eve/calendars',
      'user:eve PUT /v1/users/eve/calendars',
    ],
    'one key per credential and path',
  )
  const replay = await putCalendars(
    app,
    'eve',
    calendarSet('two', 1),
    as('Bearer service-key-two-0123456789'),
  )
  assertReplay(t, two, replay)
})

t.test('expired keys are purged, and an expired key is free again', async (t) => {
  const { app, databaseUrl } = await build(t)
  const expire = (key: string) =>
    withClient(databaseUrl, (c) =>
      c.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]),
    )
  for (const key of ['old-1', 'old-2', 'fresh']) {
    t.equal((await putCalendars(app, 'gil', calendarSet(key, 1), { [KEY]: key })).statusCode, 200)
  }
  await expire('old-1')
  await expire('old-2')
  t.equal(await app.services.idempotency.purgeExpired(1), 2, 'purged in batches of one')
  t.same(
    (await keyRows(databaseUrl)).map((row) => row.key),
    ['fresh'],
    'only the live key is left',
  )
  const reused = await putCalendars(app, 'gil', calendarSet('other', 1), { [KEY]: 'old-1' })
  t.equal(reused.statusCode, 200, 'a purged key can be used for another request')
  t.equal(reused.headers[REPLAYED], undefined)

  // Not purged yet: the claim takes the expired key over.
  await expire('fresh')
  const takeover = await putCalendars(app, 'gil', calendarSet('newer', 2), { [KEY]: 'fresh' })
  t.equal(takeover.statusCode, 200, 'an expired key is treated as absent')
  t.same(ids((await getCalendars(app, 'gil')).calendars), ['newer-0', 'newer-1'])
  const [row] = await keyRows(databaseUrl, 'fresh')
  t.ok(row?.response_body?.equals(takeover.rawPayload), 'the key now keeps the new response')
})

t.test('the purge timer deletes expired keys', async (t) => {
  const { app, databaseUrl } = await build(t, { env: { IDEMPOTENCY_PURGE_INTERVAL_MS: '100' } })
  await putCalendars(app, 'hal', calendarSet('a', 1), { [KEY]: 'soon-gone' })
  await withClient(databaseUrl, (c) => c.query(`UPDATE idempotency_keys SET expires_at = now()`))
  await waitFor('the purge', async () => (await keyRows(databaseUrl)).length === 0)
  t.pass('purged')
})

t.test('concurrent identical requests with one key: exactly one executes', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 3)
  await replaceRoster(app, roster(3))
  flex.latencyMs = 20
  const responses = await Promise.all(Array.from({ length: 12 }, () => syncWithKey(app, 'together')))
  const ran = responses.filter((r) => r.statusCode === 200 && r.headers[REPLAYED] === undefined)
  t.equal(ran.length, 1, 'one request ran')
  const executed = ran[0]
  for (const response of responses) {
    if (response === executed) continue
    if (response.statusCode === 409) {
      t.match(response.json(), { type: 'urn:rostersync:problem:idempotency-key-in-use' })
      t.ok(response.headers['retry-after'])
    } else if (executed) assertReplay(t, executed, response)
  }
  t.equal(await syncRunCount(databaseUrl), 1, 'one sync run recorded')
  t.equal(flex.lines('element-1').length, 3, 'one line per technician')
  const later = await syncWithKey(app, 'together')
  if (executed) assertReplay(t, executed, later)
})

t.test('two instances, one key: exactly one executes', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 2)
  await replaceRoster(app, roster(2))
  const { app: other } = await build(t, {
    databaseUrl,
    env: { FLEX_BASE_URL: flex.url, FLEX_AUTH_TOKEN: flex.token },
  })
  flex.latencyMs = 20
  const responses = await Promise.all(
    Array.from({ length: 10 }, (_, i) => syncWithKey(i % 2 ? other : app, 'across')),
  )
  const ran = responses.filter((r) => r.statusCode === 200 && r.headers[REPLAYED] === undefined)
  t.equal(ran.length, 1, 'one request ran')
  t.ok(
    responses.every((r) => r === ran[0] || r.statusCode === 409 || r.headers[REPLAYED] === 'true'),
    'the others were told to wait, or got the replay',
  )
  t.equal(await syncRunCount(databaseUrl), 1, 'one sync run recorded')
})

t.test('answers kept and answers released', async (t) => {
  t.test('a 4xx outcome (412) is kept and replayed', async (t) => {
    const { app } = await build(t)
    await putCalendars(app, 'ida', calendarSet('a', 1))
    const stale = { [KEY]: 'stale', 'if-match': '"7"' }
    const first = await putCalendars(app, 'ida', calendarSet('b', 1), stale)
    t.equal(first.statusCode, 412)
    t.equal(first.headers.etag, '"1"')
    await putCalendars(app, 'ida', calendarSet('c', 1)) // version 2 now
    assertReplay(t, first, await putCalendars(app, 'ida', calendarSet('b', 1), stale))
  })

  t.test('a request that fails validation keeps nothing: the key stays free', async (t) => {
    const { app, databaseUrl } = await build(t)
    const invalid = await putCalendars(app, 'jo', [{ calendarId: '' }], { [KEY]: 'fix-me' })
    t.equal(invalid.statusCode, 400)
    t.same(await keyRows(databaseUrl), [])
    const fixed = await putCalendars(app, 'jo', calendarSet('a', 1), { [KEY]: 'fix-me' })
    t.equal(fixed.statusCode, 200, 'the corrected request runs under the same key')
  })

  t.test('a refusal (501: Flex not configured) releases the key', async (t) => {
    const { app, databaseUrl } = await build(t) // no Flex: syncs answer 501 flex-not-configured
    await putTechnicians(app, 1)
    await putCrewCall(app)
    for (const attempt of [1, 2]) {
      const response = await syncWithKey(app, 'unavailable')
      t.equal(response.statusCode, 501, `attempt ${attempt}: 501`)
      t.equal(response.headers[REPLAYED], undefined, `attempt ${attempt}: ran, not replayed`)
    }
    t.same(await keyRows(databaseUrl), [], 'no key kept')
  })

  t.test('a 409 conflict releases the key, so the retry runs once the conflict is gone', async (t) => {
    const { app, databaseUrl } = await build(t)
    await putTechnicians(app, 1) // tech-0 holds res-0
    const put = () =>
      app.inject({
        method: 'PUT',
        url: '/v1/technicians/newcomer',
        payload: { name: 'New', flexResourceId: resourceId(0) },
        headers: { [KEY]: 'newcomer' },
      })
    t.equal((await put()).statusCode, 409)
    t.same(await keyRows(databaseUrl), [], 'not kept')
    await app.inject({
      method: 'PUT',
      url: '/v1/technicians/tech-0',
      payload: { name: 'Technician 0', flexResourceId: 'res-moved' },
    })
    const retried = await put()
    t.equal(retried.statusCode, 201)
    assertReplay(t, retried, await put())
  })

  t.test('the header is ignored on GET', async (t) => {
    const { app, databaseUrl } = await build(t)
    const response = await app.inject({ method: 'GET', url: calendarsUrl('kim'), headers: { [KEY]: 'x y' } })
    t.equal(response.statusCode, 200)
    t.same(await keyRows(databaseUrl), [])
  })
})

t.test('the response is stored in the transaction of the write', async (t) => {
  t.test('a failure storing it rolls the write back and frees the key', async (t) => {
    const { app, databaseUrl } = await build(t)
    await putCalendars(app, 'lu', calendarSet('old', 2))
    const before = await getCalendars(app, 'lu')
    // Fails the statement that marks the key completed: the last one of the replace's transaction.
    const removeFault = await failOn(databaseUrl, {
      table: 'idempotency_keys',
      on: 'UPDATE',
      when: `NEW.state = 'completed'`,
    })
    const failed = await putCalendars(app, 'lu', calendarSet('new', 3), { [KEY]: 'atomic' })
    t.equal(failed.statusCode, 500)
    t.match(failed.headers['content-type'], PROBLEM_CONTENT_TYPE)
    t.equal(failed.headers.etag, undefined, 'no ETag of a version that never committed')
    t.same(await getCalendars(app, 'lu'), before, 'the write was rolled back')
    t.same(await keyRows(databaseUrl), [], 'no response kept, the key is free')

    await removeFault()
    const retried = await putCalendars(app, 'lu', calendarSet('new', 3), { [KEY]: 'atomic' })
    t.equal(retried.statusCode, 200, 'the retry runs')
    t.equal(retried.headers[REPLAYED], undefined)
    t.equal((await getCalendars(app, 'lu')).version, before.version + 1)
  })

  t.test('a roster replace: a failure storing it rolls the roster and its scheduled sync back', async (t) => {
    const { app, databaseUrl } = await build(t)
    await putTechnicians(app, 3)
    await putCrewCall(app)
    t.equal((await replaceRoster(app, roster(1))).statusCode, 200)
    const rosterRow = () =>
      withClient(databaseUrl, async (c) => {
        const { rows } = await c.query(
          `SELECT version, sync_due_at, (SELECT count(*)::int FROM crew_assignments) AS assignments FROM crew_calls`,
        )
        return rows
      })
    const before = await rosterRow()
    const removeFault = await failOn(databaseUrl, {
      table: 'idempotency_keys',
      on: 'UPDATE',
      when: `NEW.state = 'completed'`,
    })
    const failed = await replaceRoster(app, roster(3), 'sound', { [KEY]: 'roster-atomic' })
    t.equal(failed.statusCode, 500)
    t.same(await rosterRow(), before, 'version, schedule and rows as they were')
    t.same(await keyRows(databaseUrl), [], 'no response kept, the key is free')

    await removeFault()
    const retried = await replaceRoster(app, roster(3), 'sound', { [KEY]: 'roster-atomic' })
    t.equal(retried.statusCode, 200, 'the retry runs')
    t.match(retried.json(), { version: 2, changes: { created: 2, unchanged: 1 } })
    assertReplay(t, retried, await replaceRoster(app, roster(3), 'sound', { [KEY]: 'roster-atomic' }))
  })

  t.test('a retry cannot take the key of a write still running, even past its lease', async (t) => {
    // The key is taken inside the write's own statement: until that statement commits, its key row is
    // invisible to everyone else, so no lease of it can lapse and no retry can take it over.
    const { app, databaseUrl } = await build(t, { env: { IDEMPOTENCY_LEASE_MS: '100000' } })
    await putCalendars(app, 'mo', calendarSet('old', 1))
    const { first, second, lapsed } = await holdingUserLock(databaseUrl, 'mo', async () => {
      const first = putCalendars(app, 'mo', calendarSet('first', 1), { [KEY]: 'lapsed' })
      await blockedOnLock(databaseUrl)
      // As if the first request's instance had stopped renewing its lease.
      const lapsed = await withClient(databaseUrl, (c) =>
        c.query(`UPDATE idempotency_keys SET locked_until = now() - interval '1 second'`),
      )
      const second = await putCalendars(app, 'mo', calendarSet('first', 1), { [KEY]: 'lapsed' })
      return { first, second, lapsed }
    })
    t.equal(lapsed.rowCount, 0, 'the running write holds no committed key row a lease could lapse on')
    t.equal(second.statusCode, 409, 'the retry is told the first still runs')
    t.match(second.json(), { type: 'urn:rostersync:problem:idempotency-key-in-use' })
    const a = await first
    t.equal(a.statusCode, 200, 'the first request ran')
    t.equal((await getCalendars(app, 'mo')).version, 2, 'exactly one replace committed')
    assertReplay(t, a, await putCalendars(app, 'mo', calendarSet('first', 1), { [KEY]: 'lapsed' }))
  })
})

t.test('a key whose request crashed is free once its lease lapses', async (t) => {
  const { app, databaseUrl } = await build(t)
  const first = await putCalendars(app, 'ned', calendarSet('a', 2), { [KEY]: 'crashed' })
  t.equal(first.statusCode, 200)
  await putCalendars(app, 'ned', calendarSet('b', 1)) // version 2
  // What a crash before the commit leaves: the key in progress, nothing kept.
  const crash = (lease: string) =>
    withClient(databaseUrl, (c) =>
      c.query(
        `UPDATE idempotency_keys SET state = 'in_progress', locked_until = now() + $1::interval,
                response_status = NULL, response_headers = NULL, response_body = NULL`,
        [lease],
      ),
    )
  await crash('30 seconds')
  const held = await putCalendars(app, 'ned', calendarSet('a', 2), { [KEY]: 'crashed' })
  t.equal(held.statusCode, 409, 'within the lease: still running as far as anyone knows')
  t.ok(Number(held.headers['retry-after']) >= 29, 'Retry-After is the lease left')

  await crash('-1 second')
  t.equal(
    (await putCalendars(app, 'ned', calendarSet('z', 1), { [KEY]: 'crashed' })).statusCode,
    422,
    'a lapsed key still belongs to its request',
  )
  const retried = await putCalendars(app, 'ned', calendarSet('a', 2), { [KEY]: 'crashed' })
  t.equal(retried.statusCode, 200, 'the same request runs again')
  t.equal(retried.headers[REPLAYED], undefined)
  t.same(ids((await getCalendars(app, 'ned')).calendars), ['a-0', 'a-1'])
})

t.test(
  'the OpenAPI document declares the header and the 409 and 422 answers on POST, PUT and DELETE',
  async (t) => {
    const { app } = await build(t)
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<
        string,
        Record<string, { parameters?: { in: string; name: string; required?: boolean }[] }>
      >
    }>()
    let checked = 0
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const responses = (operation as { responses?: Record<string, unknown> }).responses ?? {}
        const header = operation.parameters?.find((p) => p.in === 'header' && p.name === KEY)
        if (method === 'post' || method === 'put' || method === 'delete') {
          checked++
          t.ok(header && !header.required, `${method} ${path}: optional Idempotency-Key`)
          t.ok(responses['409'] && responses['422'], `${method} ${path}: 409 and 422`)
        } else t.notOk(header, `${method} ${path}: no Idempotency-Key`)
      }
    }
    t.ok(checked >= 9, 'every POST, PUT and DELETE was checked')
  },
)
