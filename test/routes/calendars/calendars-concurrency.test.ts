import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { build } from '../../helpers/build-app.ts'
import {
  type CalendarPayload,
  calendarSet,
  getCalendars,
  ids,
  putCalendars,
} from '../../helpers/calendars.ts'
import { createTestDatabase, withClient } from '../../helpers/database.ts'

/**
 * G1-G3 under concurrency: N replaces of one user's set at once all succeed, end with exactly one
 * request's set (never a mix), never duplicate a row, and the version counts the changing requests.
 */

/** 50 distinct sets of 20 that overlap pairwise, so any mix of two of them would be visible. */
function overlappingSets(count: number): CalendarPayload[][] {
  return Array.from({ length: count }, (_, i) => [
    ...calendarSet('shared', 5, { summary: `shared by ${i}` }),
    ...calendarSet(`own${i}`, 15),
  ]).map((set) => set.map((c, j) => (j === 0 ? { ...c, primary: true } : c)))
}

async function replaceConcurrently(apps: FastifyInstance[], userId: string, sets: CalendarPayload[][]) {
  const responses = await Promise.all(
    sets.map((set, i) => putCalendars(apps[i % apps.length] as FastifyInstance, userId, set)),
  )
  return responses.map((response) => ({ status: response.statusCode, body: response.json() }))
}

async function duplicateKeys(databaseUrl: string): Promise<number> {
  return withClient(databaseUrl, async (c) => {
    const { rows } = await c.query(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM managed_calendars GROUP BY user_id, calendar_id HAVING count(*) > 1) d`,
    )
    return rows[0].n
  })
}

async function checkInvariants(
  t: Test,
  apps: FastifyInstance[],
  databaseUrl: string,
  userId: string,
  sets: CalendarPayload[][],
) {
  const results = await replaceConcurrently(apps, userId, sets)
  t.same(
    results.filter((r) => r.status !== 200),
    [],
    'every replace succeeds: none fails because another ran at the same time',
  )
  const final = await getCalendars(apps[0] as FastifyInstance, userId)
  const finalSignature = JSON.stringify(final.calendars.map((c) => [c.calendarId, c.summary]).sort())
  const matching = sets.filter(
    (set) => JSON.stringify(set.map((c) => [c.calendarId, c.summary]).sort()) === finalSignature,
  )
  t.equal(matching.length, 1, 'the final set is exactly one of the sent sets')
  t.equal(await duplicateKeys(databaseUrl), 0, 'no duplicate (user_id, calendar_id)')

  const changing = results.filter((r) => {
    const { created, updated, deleted } = r.body.changes
    return created + updated + deleted > 0
  })
  t.equal(final.version, changing.length, 'the version counts the changing requests')
  const versions = results.map((r) => r.body.version).sort((a, b) => a - b)
  t.same(versions, [...new Set(versions)], 'each changing replace saw its own version')
  const last = results.find((r) => r.body.version === final.version)
  t.same(ids(last?.body.calendars ?? []), ids(final.calendars), 'the last to commit wins')
}

t.test('50 concurrent replaces of one user through one app', async (t) => {
  const { app, databaseUrl } = await build(t)
  await checkInvariants(t, [app], databaseUrl, 'hot-user', overlappingSets(50))
})

t.test('50 concurrent replaces of one user through two app instances on one database', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const first = await build(t, { databaseUrl })
  const second = await build(t, { databaseUrl })
  await checkInvariants(t, [first.app, second.app], databaseUrl, 'hot-user', overlappingSets(50))
})

t.test('200 concurrent replaces spread over 4 users, with small pools', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const env = { DB_POOL_MAX: '4' }
  const apps = [(await build(t, { databaseUrl, env })).app, (await build(t, { databaseUrl, env })).app]
  const users = ['u0', 'u1', 'u2', 'u3']
  const sets = overlappingSets(50)
  const results = await Promise.all(
    users.flatMap((user) => sets.map((set, i) => putCalendars(apps[i % 2] as FastifyInstance, user, set))),
  )
  t.same(
    results.map((r) => r.statusCode).filter((s) => s !== 200),
    [],
    'all 200',
  )
  t.equal(await duplicateKeys(databaseUrl), 0, 'no duplicates')
  for (const user of users) {
    const final = await getCalendars(apps[0] as FastifyInstance, user)
    t.equal(final.calendars.length, 20, `${user} holds exactly one set of 20, never a mix`)
  }
})
