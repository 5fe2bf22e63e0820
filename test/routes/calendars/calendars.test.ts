import t from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import { calendarSet, calendarsUrl, getCalendars, ids, putCalendars } from '../../helpers/calendars.ts'
import { withClient } from '../../helpers/database.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

const { app, databaseUrl } = await build(t)

t.test('a user never synced has version 0 and no calendars', async (t) => {
  const response = await injectAs(app, 'service', { method: 'GET', url: calendarsUrl('nobody') })
  t.equal(response.statusCode, 200)
  t.equal(response.headers.etag, '"0"')
  t.same(response.json(), { userId: 'nobody', version: 0, calendars: [] })
})

t.test('replace creates, then a replay changes nothing', async (t) => {
  const set = [
    {
      calendarId: 'work@example.com',
      summary: 'Work',
      timeZone: 'Europe/Madrid',
      accessRole: 'owner',
      primary: true,
    },
    {
      calendarId: 'b-holidays',
      summary: 'Holidays',
      description: 'Public',
      backgroundColor: '#9fe1e7',
      selected: true,
    },
    { calendarId: 'a-team', summary: 'Team', foregroundColor: '#000000', accessRole: 'reader' },
  ]
  const first = await putCalendars(app, 'u-replay', set)
  t.equal(first.statusCode, 200)
  t.equal(first.headers.etag, '"1"')
  const body = first.json()
  t.equal(body.version, 1)
  t.same(body.changes, { created: 3, updated: 0, deleted: 0, unchanged: 0 })
  t.same(
    body.calendars.map((c: { calendarId: string }) => c.calendarId),
    ['a-team', 'b-holidays', 'work@example.com'],
    'sorted by calendarId',
  )
  t.match(body.calendars[2], {
    calendarId: 'work@example.com',
    summary: 'Work',
    description: null,
    timeZone: 'Europe/Madrid',
    accessRole: 'owner',
    primary: true,
    selected: false,
  })

  const replay = await putCalendars(app, 'u-replay', set)
  t.equal(replay.statusCode, 200)
  t.equal(replay.headers.etag, '"1"', 'version unchanged')
  t.same(replay.json().changes, { created: 0, updated: 0, deleted: 0, unchanged: 3 })
  t.same(replay.json().calendars, body.calendars, 'timestamps untouched by a replay')
  t.same(await getCalendars(app, 'u-replay'), { userId: 'u-replay', version: 1, calendars: body.calendars })
})

t.test('replace deletes, updates and creates in one step; created_at survives re-syncs', async (t) => {
  const first = (await putCalendars(app, 'u-diff', calendarSet('c', 4))).json()
  const next = [
    { calendarId: 'c-0', summary: 'Calendar c 0' }, // unchanged
    { calendarId: 'c-1', summary: 'Renamed' }, // updated
    { calendarId: 'c-9', summary: 'New' }, // created; c-2, c-3 deleted
  ]
  const response = await putCalendars(app, 'u-diff', next)
  const body = response.json()
  t.equal(body.version, 2)
  t.same(body.changes, { created: 1, updated: 1, deleted: 2, unchanged: 1 })
  t.same(ids(body.calendars), ['c-0', 'c-1', 'c-9'])
  const before = new Map(first.calendars.map((c: { calendarId: string }) => [c.calendarId, c]))
  const renamed = body.calendars.find((c: { calendarId: string }) => c.calendarId === 'c-1')
  t.equal(renamed.createdAt, (before.get('c-1') as { createdAt: string }).createdAt, 'created_at kept')
  t.not(renamed.updatedAt, renamed.createdAt, 'updated_at moved')
})

t.test('an empty list empties the set, once', async (t) => {
  await putCalendars(app, 'u-empty', calendarSet('e', 3))
  const emptied = (await putCalendars(app, 'u-empty', [])).json()
  t.same(emptied, {
    userId: 'u-empty',
    version: 2,
    calendars: [],
    changes: { created: 0, updated: 0, deleted: 3, unchanged: 0 },
  })
  const again = (await putCalendars(app, 'u-empty', [])).json()
  t.equal(again.version, 2, 'emptying an empty set is not a change')
})

t.test('the primary calendar can move in one replace', async (t) => {
  await putCalendars(app, 'u-primary', [
    { calendarId: 'a', summary: 'A', primary: true },
    { calendarId: 'b', summary: 'B' },
  ])
  const moved = await putCalendars(app, 'u-primary', [
    { calendarId: 'b', summary: 'B', primary: true },
    { calendarId: 'a', summary: 'A' },
  ])
  t.equal(moved.statusCode, 200)
  t.same(
    moved.json().calendars.map((c: { primary: boolean }) => c.primary),
    [false, true],
  )
})

t.test('If-Match', async (t) => {
  await putCalendars(app, 'u-if', calendarSet('i', 2))
  const stale = await putCalendars(app, 'u-if', calendarSet('j', 2), { 'if-match': '"0"' })
  t.equal(stale.statusCode, 412)
  t.match(stale.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.equal(stale.headers.etag, '"1"', 'the current version comes back')
  t.match(stale.json(), { type: 'urn:rostersync:problem:precondition-failed', status: 412 })
  t.same(ids((await getCalendars(app, 'u-if')).calendars), ['i-0', 'i-1'], 'nothing written')

  const current = await putCalendars(app, 'u-if', calendarSet('j', 2), { 'if-match': '"7", "1"' })
  t.equal(current.statusCode, 200, 'any listed version may match')
  t.equal(current.json().version, 2)
  const star = await putCalendars(app, 'u-if', calendarSet('k', 1), { 'if-match': '*' })
  t.equal(star.statusCode, 200)

  const fresh = await putCalendars(app, 'u-if-new', calendarSet('n', 1), { 'if-match': '"3"' })
  t.equal(fresh.statusCode, 412, 'a never-synced user is at version 0')
  await withClient(databaseUrl, async (c) => {
    const { rowCount } = await c.query(`SELECT 1 FROM calendar_sets WHERE user_id = 'u-if-new'`)
    t.equal(rowCount, 0, 'the refused replace left no trace')
  })
})

t.test('users do not see each other', async (t) => {
  await putCalendars(app, 'u-one', calendarSet('one', 2))
  await putCalendars(app, 'u-two', calendarSet('two', 3))
  t.same(ids((await getCalendars(app, 'u-one')).calendars), ['one-0', 'one-1'])
  t.equal((await getCalendars(app, 'u-two')).calendars.length, 3)
})

t.test('ids are opaque: slashes, unicode and 1024 characters round-trip', async (t) => {
  const userId = `user/with spaces/ü/${'x'.repeat(900)}`
  const set = [
    { calendarId: 'y'.repeat(1024), summary: 'long' },
    { calendarId: 'émoji 📅/#?', summary: 'odd' },
  ]
  const response = await putCalendars(app, userId, set)
  t.equal(response.statusCode, 200)
  t.same(ids((await getCalendars(app, userId)).calendars), ids(set))
})

t.test('a large set is written and read in one replace', async (t) => {
  const set = calendarSet('big', 10_000, { description: 'd', timeZone: 'UTC', selected: true })
  const response = await putCalendars(app, 'u-big', set)
  t.equal(response.statusCode, 200)
  t.same(response.json().changes, { created: 10_000, updated: 0, deleted: 0, unchanged: 0 })
  const rotated = [...set.slice(5_000), ...calendarSet('big2', 5_000)]
  const second = await putCalendars(app, 'u-big', rotated)
  t.same(second.json().changes, { created: 5_000, updated: 0, deleted: 5_000, unchanged: 5_000 })
})
