import t from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import { calendarSet, getCalendars, ids, putCalendars } from '../../helpers/calendars.ts'
import { withClient } from '../../helpers/database.ts'
import { failOn, slowDown } from '../../helpers/db-faults.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

/** G1: whatever fails half-way, the previous set and version stay exactly as they were. */

t.test('a failure after the old rows were deleted rolls the whole replace back', async (t) => {
  const { app, databaseUrl } = await build(t)
  await putCalendars(app, 'victim', calendarSet('old', 5))
  const before = await getCalendars(app, 'victim')
  // Fails the upsert (third statement), after the delete (second) has already removed old-0..old-4.
  await failOn(databaseUrl, {
    table: 'managed_calendars',
    on: 'INSERT OR UPDATE',
    when: `NEW.calendar_id = 'boom'`,
  })
  const response = await putCalendars(app, 'victim', [
    ...calendarSet('new', 3),
    { calendarId: 'boom', summary: 'x' },
  ])
  t.equal(response.statusCode, 500)
  t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.notMatch(response.body, /injected|boom|managed_calendars/, 'no internals in the answer')
  t.same(await getCalendars(app, 'victim'), before, 'previous set and version intact')
})

t.test('waiting too long for the user lock answers 503 with Retry-After and writes nothing', async (t) => {
  const { app, databaseUrl } = await build(t, {
    env: { DB_LOCK_TIMEOUT_MS: '200', RETRY_AFTER_SECONDS: '2' },
  })
  await putCalendars(app, 'locked', calendarSet('a', 2))
  await withClient(databaseUrl, async (holder) => {
    await holder.query('BEGIN')
    await holder.query(`SELECT * FROM calendar_sets WHERE user_id = 'locked' FOR UPDATE`)
    const response = await putCalendars(app, 'locked', calendarSet('b', 2))
    await holder.query('ROLLBACK')
    t.equal(response.statusCode, 503)
    t.equal(response.headers['retry-after'], '2')
    t.match(response.json(), { type: 'urn:rostersync:problem:service-unavailable', status: 503 })
  })
  t.same(ids((await getCalendars(app, 'locked')).calendars), ['a-0', 'a-1'])
})

t.test('an exhausted pool answers 503 with Retry-After, not a hang and not a 500', async (t) => {
  const env = { DB_POOL_MAX: '1', DB_TX_MAX_WAIT_MS: '200', DB_CONNECT_TIMEOUT_MS: '200' }
  const { app } = await build(t, { env })
  const held = await app.db.pool.connect()
  try {
    const write = await putCalendars(app, 'starved', calendarSet('s', 1))
    t.equal(write.statusCode, 503, 'a replace cannot start its transaction')
    t.ok(write.headers['retry-after'])
    const read = await injectAs(app, 'service', { method: 'GET', url: '/v1/users/starved/calendars' })
    t.equal(read.statusCode, 503, 'a read cannot get a connection')
    t.match(read.headers['content-type'], PROBLEM_CONTENT_TYPE)
  } finally {
    held.release()
  }
  t.equal(
    (await putCalendars(app, 'starved', calendarSet('s', 1))).statusCode,
    200,
    'serves again once freed',
  )
})

t.test('a connection killed mid-transaction is a 503; the app keeps serving', async (t) => {
  const { app, databaseUrl } = await build(t)
  await putCalendars(app, 'killed', calendarSet('k', 3))
  const before = await getCalendars(app, 'killed')
  await withClient(databaseUrl, async (holder) => {
    await holder.query('BEGIN')
    await holder.query(`SELECT * FROM calendar_sets WHERE user_id = 'killed' FOR UPDATE`)
    const pending = putCalendars(app, 'killed', calendarSet('z', 3))
    // Wait until the replace blocks on the lock (its transaction is open), then kill its backend.
    const killed = await withClient(databaseUrl, async (admin) => {
      for (let i = 0; i < 200; i++) {
        const { rows } = await admin.query(
          `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'rostersync' AND wait_event_type = 'Lock'`,
        )
        if (rows.length > 0) return true
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      return false
    })
    t.ok(killed, 'the blocked backend was terminated')
    const response = await pending
    await holder.query('ROLLBACK')
    t.equal(response.statusCode, 503)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
  })
  t.same(await getCalendars(app, 'killed'), before, 'previous set intact')
  const after = await putCalendars(app, 'killed', calendarSet('z', 3))
  t.equal(after.statusCode, 200, 'the pool replaced the dead connection')
})

t.test('a statement that runs too long is cancelled with a 503 and writes nothing', async (t) => {
  const { app, databaseUrl } = await build(t, { env: { DB_STATEMENT_TIMEOUT_MS: '100' } })
  await putCalendars(app, 'slow', calendarSet('s', 2))
  await slowDown(databaseUrl, { table: 'managed_calendars', on: 'INSERT', seconds: 1 })
  const response = await putCalendars(app, 'slow', calendarSet('t', 2))
  t.equal(response.statusCode, 503)
  t.same(ids((await getCalendars(app, 'slow')).calendars), ['s-0', 's-1'])
})
