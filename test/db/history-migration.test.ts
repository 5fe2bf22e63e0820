import pg from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrate.ts'
import { readMigrations } from '../../src/db/migrations.ts'
import { createEmptyDatabase } from '../helpers/database.ts'

/**
 * The leaner history (migration 20261206110000_lean_history, issue 21) converts the history written
 * before it in place: every version kept before the migration reads the same after it, calendar sets
 * and rosters alike, and the next replace after it diffs against the converted rows.
 */

const LEAN_HISTORY = '20261206110000_lean_history'

const calendar = (id: string, summary: string, extra: Record<string, unknown> = {}) => ({
  calendar_id: id,
  summary,
  description: null,
  time_zone: 'Europe/Madrid',
  background_color: '#9fe1e7',
  foreground_color: null,
  access_role: 'owner',
  is_primary: false,
  is_selected: true,
  ...extra,
})

/** Each set written in turn: updates, deletes, creates and a primary moving between calendars. */
const CALENDAR_SETS = [
  [calendar('a', 'A', { is_primary: true }), calendar('b', 'B'), calendar('c', 'C')],
  [
    calendar('a', 'A2'),
    calendar('c', 'C', { description: 'now described' }),
    calendar('d', 'D', { is_primary: true }),
  ],
  [calendar('d', 'D', { is_primary: true, time_zone: null }), calendar('e', 'E')],
  [calendar('a', 'A3', { access_role: 'reader' }), calendar('e', 'E')],
]
const ROSTERS = [
  [
    { technician_id: 't1', role: 'FOH-E' },
    { technician_id: 't2', role: null },
  ],
  [
    { technician_id: 't2', role: 'MON-R' },
    { technician_id: 't3', role: null },
  ],
  [
    { technician_id: 't1', role: null },
    { technician_id: 't3', role: 'FOH-E' },
  ],
]

t.test('history written before the leaner history reads the same at every version after it', async (t) => {
  const all = await readMigrations()
  const at = all.findIndex((m) => m.name === LEAN_HISTORY)
  t.ok(at > 0, `${LEAN_HISTORY} exists`)
  const url = await createEmptyDatabase(t)
  await migrate(url, all.slice(0, at))

  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())

  for (const set of CALENDAR_SETS) {
    await client.query("SELECT * FROM replace_calendar_set('u1', NULL, $1::jsonb, 'service:test', NULL)", [
      JSON.stringify(set),
    ])
  }
  await client.query(
    "INSERT INTO technicians (id, name, flex_resource_id) VALUES ('t1', 'One', 'r1'), ('t2', 'Two', 'r2'), ('t3', 'Three', 'r3')",
  )
  const crewCall = await client.query<{ id: string }>(
    "INSERT INTO crew_calls (job_id, department, flex_element_id) VALUES ('job-1', 'sound', 'el-1') RETURNING id",
  )
  const crewCallId = crewCall.rows[0]?.id
  for (const roster of ROSTERS) {
    await client.query(
      "SELECT * FROM replace_roster('job-1', 'sound', NULL, $1::jsonb, 1000, 'service:test', NULL)",
      [JSON.stringify(roster)],
    )
  }

  const readAll = async () => {
    const sets = []
    for (let version = 0; version <= CALENDAR_SETS.length; version++) {
      const { rows } = await client.query("SELECT calendars FROM calendar_set_at('u1', $1)", [version])
      sets.push(rows[0]?.calendars)
    }
    const rosters = []
    for (let version = 0; version <= ROSTERS.length; version++) {
      const { rows } = await client.query('SELECT assignments FROM roster_at($1, $2)', [crewCallId, version])
      rosters.push(rows[0]?.assignments)
    }
    const since = []
    for (let version = 0; version <= CALENDAR_SETS.length; version++) {
      const { rows } = await client.query(
        "SELECT created, updated, deleted FROM calendar_changes_since('u1', $1)",
        [version],
      )
      since.push(rows[0])
    }
    return { sets, rosters, since }
  }
  const before = await readAll()
  t.equal(
    before.sets.filter((set) => Array.isArray(set)).length,
    CALENDAR_SETS.length + 1,
    'every version kept',
  )
  t.same(
    before.sets[1].map((c: { calendarId: string }) => c.calendarId),
    ['a', 'b', 'c'],
    'version 1 is the first set',
  )

  const { applied } = await migrate(url, all)
  t.ok(applied.includes(LEAN_HISTORY), 'the leaner history is applied on the written history')
  const after = await readAll()
  t.same(after, before, 'every version, every roster and every changes feed read the same')

  // A replace after the migration restores version 1 through the converted rows.
  const restored = await client.query(
    "SELECT version, answer FROM restore_calendar_set('u1', 1, NULL, 'service:test', NULL)",
  )
  const answer = JSON.parse(restored.rows[0]?.answer)
  // A restored calendar is written anew, so only its timestamps differ.
  const content = (calendars: Record<string, unknown>[]) =>
    calendars.map(({ createdAt: _created, updatedAt: _updated, ...rest }) => rest)
  t.same(
    content(answer.calendars),
    content(before.sets[1]),
    'a restore after the migration brings back the old version whole',
  )
  const { rows } = await client.query("SELECT calendars FROM calendar_set_at('u1', $1)", [
    CALENDAR_SETS.length,
  ])
  t.same(
    rows[0]?.calendars,
    before.sets[CALENDAR_SETS.length],
    'the version before the restore still reads the same',
  )
})
