import t from 'tap'
import { build } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl, putCalendars } from '../helpers/calendars.ts'
import { crewCallUrl, putCrewCall, putTechnicians, replaceRoster, roster } from '../helpers/crew.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startRoundTripCounter } from '../helpers/round-trips.ts'

/**
 * A keyed set write takes its Idempotency-Key and stores its answer in its own statement: one round trip
 * to PostgreSQL, as the unkeyed write (counted on the wire, through a proxy in front of the database).
 */

const KEY = 'idempotency-key'

t.test('a keyed replace or restore is one round trip, as an unkeyed one', async (t) => {
  const counter = await startRoundTripCounter(await createTestDatabase(t))
  t.teardown(() => counter.close())
  // No background worker polls meanwhile: every round trip counted is the request's.
  const { app } = await build(t, { databaseUrl: counter.url, env: { WEBHOOK_WORKER: 'off' } })
  await putTechnicians(app, 3)
  await putCrewCall(app)
  await putCalendars(app, 'ana', calendarSet('a', 2)) // the pool's connection is open from here on
  await replaceRoster(app, roster(1))

  const writes = {
    'PUT calendars': (key?: string) =>
      putCalendars(app, 'ana', calendarSet(`${key}`, 3), key ? { [KEY]: key } : {}),
    'POST calendars/restore': (key?: string) =>
      app.inject({
        method: 'POST',
        url: `${calendarsUrl('ana')}/restore`,
        payload: { version: 1 },
        headers: key ? { [KEY]: key } : {},
      }),
    'PUT assignments': (key?: string) =>
      replaceRoster(app, roster(key ? 3 : 2), 'sound', key ? { [KEY]: key } : {}),
    'POST assignments/restore': (key?: string) =>
      app.inject({
        method: 'POST',
        url: `${crewCallUrl()}/assignments/restore`,
        payload: { version: 1 },
        headers: key ? { [KEY]: key } : {},
      }),
  }
  for (const [name, write] of Object.entries(writes)) {
    const plain = await counter.count(() => write())
    t.equal(plain.result.statusCode, 200, `${name}: unkeyed 200`)
    const key = name.replace(/\W+/g, '-')
    const keyed = await counter.count(() => write(key))
    t.equal(keyed.result.statusCode, 200, `${name}: keyed 200`)
    t.comment(`${name}: ${plain.roundTrips} round trip(s) unkeyed, ${keyed.roundTrips} keyed`)
    t.equal(keyed.roundTrips, 1, `${name}: the keyed write is one round trip`)
    const replay = await counter.count(() => write(key))
    t.equal(replay.result.headers['idempotent-replayed'], 'true', `${name}: replayed`)
    t.equal(replay.roundTrips, 1, `${name}: the replay is one round trip`)
  }
})
