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

/**
 * Two migrations rewrite the calendar history written before them: 20261206160000 moves the
 * calendar_changes rows onto their calendar_versions rows (JSON images); 20261206232624 turns those
 * JSON images into calendar_change values. For each: every kept version, the changes feed since each,
 * the floor and a restore read the same after it, with older versions pruned before it.
 */
const HISTORY_REWRITES = [
  { migration: '20261206160000_calendar_history_on_version_row', dropsTable: 'calendar_changes' },
  { migration: '20261206232624_calendar_history_typed_changes' },
]

/** A CALENDAR_SETS row as the API (and replace_calendar_set since 20261206140100) takes it. */
const asSent = (c: ReturnType<typeof calendar>) => ({
  calendarId: c.calendar_id,
  summary: c.summary,
  description: c.description,
  timeZone: c.time_zone,
  backgroundColor: c.background_color,
  foregroundColor: c.foreground_color,
  accessRole: c.access_role,
  primary: c.is_primary,
  selected: c.is_selected,
})

for (const { migration, dropsTable } of HISTORY_REWRITES) {
  t.test(`history written before ${migration} reads the same at every version after it`, async (t) => {
    const all = await readMigrations()
    const at = all.findIndex((m) => m.name === migration)
    t.ok(at > 0, `${migration} exists`)
    const url = await createEmptyDatabase(t)
    await migrate(url, all.slice(0, at))

    const client = new pg.Client({ connectionString: url })
    await client.connect()
    t.teardown(() => client.end())

    // u1: every set in turn, then each again (updates back), a no-op and a restore; u2: two versions, the
    // first pruned; u3: a set changed once and emptied.
    const replace = (user: string, set: ReturnType<typeof calendar>[]) =>
      client.query("SELECT * FROM replace_calendar_set($1, NULL, $2::jsonb, 'service:test', NULL)", [
        user,
        JSON.stringify(set.map(asSent)),
      ])
    for (const set of [...CALENDAR_SETS, ...CALENDAR_SETS]) await replace('u1', set)
    await replace('u1', CALENDAR_SETS[1] ?? [])
    await client.query("SELECT * FROM restore_calendar_set('u1', 2, NULL, 'service:test', NULL)")
    for (const set of CALENDAR_SETS.slice(0, 3)) await replace('u2', set)
    await replace('u3', CALENDAR_SETS[2] ?? [])
    await replace('u3', [])
    await client.query(
      "UPDATE calendar_versions SET changed_at = now() - interval '2 days' WHERE user_id = 'u2'",
    )
    t.equal(
      (await client.query('SELECT prune_calendar_history(2, 1, 100) AS n')).rows[0]?.n,
      1,
      "u2's first version pruned",
    )

    type Read = Record<string, unknown>
    const calendarsAt = (read: Read, key: string) =>
      (read[key] as [{ calendars: Record<string, unknown>[] | null } | undefined] | undefined)?.[0]?.calendars
    const readAll = async () => {
      const read: Read = {}
      for (const user of ['u1', 'u2', 'u3']) {
        const { rows } = await client.query<{ version: number }>(
          'SELECT version FROM calendar_sets WHERE user_id = $1',
          [user],
        )
        const current = rows[0]?.version ?? 0
        for (let version = 0; version <= current + 1; version++) {
          read[`${user}@${version}`] = [
            (await client.query('SELECT * FROM calendar_set_at($1, $2)', [user, version])).rows[0],
            (await client.query('SELECT * FROM calendar_changes_since($1, $2)', [user, version])).rows[0],
          ]
        }
        read[`${user} versions`] = (
          await client.query(
            'SELECT version, actor, created, updated, deleted, restored_from FROM calendar_versions WHERE user_id = $1 ORDER BY version',
            [user],
          )
        ).rows
      }
      return read
    }
    const before = await readAll()
    t.ok(Array.isArray(calendarsAt(before, 'u1@0')), "u1's version 0 is kept")
    t.equal(calendarsAt(before, 'u2@0'), null, "u2's version 0 is below the floor")
    t.ok(Array.isArray(calendarsAt(before, 'u2@1')), "u2's version 1 rebuilds")

    const { applied } = await migrate(url, all)
    t.ok(applied.includes(migration), 'the migration is applied on the written history')
    if (dropsTable) {
      t.equal(
        (await client.query('SELECT to_regclass($1) AS t', [dropsTable])).rows[0]?.t,
        null,
        `${dropsTable} is gone`,
      )
    }
    t.same(await readAll(), before, 'every version, changes feed, floor and version row read the same')

    // Restores through the moved rows, and a replace after them, write on the version row.
    const restored = await client.query(
      "SELECT version, answer FROM restore_calendar_set('u1', 1, NULL, 'service:test', NULL)",
    )
    const content = (calendars: Record<string, unknown>[]) =>
      calendars.map(({ createdAt: _created, updatedAt: _updated, ...rest }) => rest)
    t.same(
      content(JSON.parse(restored.rows[0]?.answer).calendars),
      content(calendarsAt(before, 'u1@1') ?? []),
      'a restore after the migration brings back version 1 whole',
    )
    const last = restored.rows[0]?.version - 1
    t.same(
      (await client.query("SELECT * FROM calendar_set_at('u1', $1)", [last])).rows[0]?.calendars,
      calendarsAt(before, `u1@${last}`),
      'the version before the restore still reads the same',
    )
  })
}
