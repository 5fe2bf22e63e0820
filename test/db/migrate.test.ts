import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { migrate, pendingMigrations } from '../../src/db/migrate.ts'
import { type Migration, readMigrations } from '../../src/db/migrations.ts'
import { columns } from '../helpers/catalog.ts'
import { createEmptyDatabase, withClient } from '../helpers/database.ts'
import { waitFor } from '../helpers/wait.ts'

/** `prisma migrate deploy`'s advisory lock: migrate() takes it too, so the two exclude each other. */
const PRISMA_MIGRATE_LOCK_KEY = 72707369
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const local = await readMigrations()
const localNames = local.map((m) => m.name)

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** A migration that is not in prisma/migrations. */
const migration = (name: string, sql: string): Migration => ({ name, sql, checksum: sha256(sql) })

/** A new migration after the real ones; its table shows whether it ran. */
const NEXT = migration('29990101000000_next', 'CREATE TABLE next_table (id int)')

interface HistoryRow {
  id: string
  checksum: string
  migration_name: string
  finished_at: Date | null
  rolled_back_at: Date | null
  applied_steps_count: number
}

const history = (url: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<HistoryRow>(
      `SELECT id, checksum, migration_name, finished_at, rolled_back_at, applied_steps_count
         FROM "_prisma_migrations" ORDER BY migration_name`,
    )
    return rows
  })

const appliedNames = async (url: string) => (await history(url)).map((row) => row.migration_name)

const tableExists = (url: string, table: string) =>
  withClient(url, async (c) => {
    const { rows } = await c.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [
      table,
    ])
    return rows[0]?.exists
  })

/** migrate() must reject with a MigrationError matching `message`, and change nothing. */
async function assertRefuses(t: Test, url: string, migrations: Migration[], message: RegExp) {
  const before = await history(url)
  await t.rejects(migrate(url, migrations), { name: 'MigrationError', message })
  t.same(await history(url), before, 'the history is unchanged')
  t.notOk(await tableExists(url, 'next_table'), 'the pending migration was not applied')
}

t.test('applies every migration to an empty database, recording each as Prisma does', async (t) => {
  t.ok(local.length > 0, 'prisma/migrations holds migrations')
  const url = await createEmptyDatabase(t)
  t.same(await migrate(url), { applied: localNames, alreadyApplied: [] })

  const rows = await history(url)
  t.same(
    rows.map((row) => row.migration_name),
    localNames,
  )
  for (const row of rows) {
    const file = new URL(`../../prisma/migrations/${row.migration_name}/migration.sql`, import.meta.url)
    t.match(
      row,
      {
        id: UUID,
        checksum: sha256(await readFile(file, 'utf8')),
        finished_at: Date,
        rolled_back_at: null,
        applied_steps_count: 1,
      },
      `${row.migration_name} is recorded as applied, with the sha256 of its file`,
    )
  }
  t.same(
    await withClient(url, (c) => columns(c, '_prisma_migrations')),
    [
      { name: 'id', type: 'character varying(36)', nullable: false, hasDefault: false },
      { name: 'checksum', type: 'character varying(64)', nullable: false, hasDefault: false },
      { name: 'finished_at', type: 'timestamp with time zone', nullable: true, hasDefault: false },
      { name: 'migration_name', type: 'character varying(255)', nullable: false, hasDefault: false },
      { name: 'logs', type: 'text', nullable: true, hasDefault: false },
      { name: 'rolled_back_at', type: 'timestamp with time zone', nullable: true, hasDefault: false },
      { name: 'started_at', type: 'timestamp with time zone', nullable: false, hasDefault: true },
      { name: 'applied_steps_count', type: 'integer', nullable: false, hasDefault: true },
    ],
    '_prisma_migrations has the columns of Prisma’s own table',
  )
})

t.test('a second run applies nothing', async (t) => {
  const url = await createEmptyDatabase(t)
  await migrate(url)
  const before = await history(url)
  t.same(await migrate(url), { applied: [], alreadyApplied: localNames })
  t.same(await history(url), before)
})

t.test('two runs started together on one database apply each migration once', async (t) => {
  const url = await createEmptyDatabase(t)
  const results = await withClient(url, async (gate) => {
    // Holding Prisma's lock makes sure both runs have started, and are queued on it, before either works.
    await gate.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY])
    const runs = Promise.allSettled([migrate(url), migrate(url)])
    try {
      await waitFor('both runs to wait for the migrate lock', async () => {
        const { rows } = await gate.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_locks
            WHERE locktype = 'advisory' AND objid = $1 AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [PRISMA_MIGRATE_LOCK_KEY],
        )
        return rows[0]?.waiting === 2
      })
    } finally {
      await gate.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY])
    }
    return runs
  })
  t.same(
    results.map((result) => result.status),
    ['fulfilled', 'fulfilled'],
    'both runs succeed',
  )
  const applied = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value.applied] : []))
  t.same(
    applied.sort((a, b) => a.length - b.length),
    [[], localNames],
    'exactly one run applies, the other finds nothing to do',
  )
  t.same(await appliedNames(url), localNames, 'one row per migration')
})

t.test('an applied migration whose file changed is refused', async (t) => {
  const url = await createEmptyDatabase(t)
  await migrate(url)
  const [first, ...rest] = local as [Migration, ...Migration[]]
  const edited = migration(first.name, `${first.sql}\n-- edited after it was applied\n`)
  await assertRefuses(t, url, [edited, ...rest, NEXT], new RegExp(`${first.name} was modified`))
})

t.test('a migration that failed earlier (an unfinished row) is refused until resolved', async (t) => {
  const url = await createEmptyDatabase(t)
  await migrate(url)
  // What `prisma migrate deploy` leaves behind when a migration fails.
  await withClient(url, (c) =>
    c.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, applied_steps_count)
       VALUES (gen_random_uuid()::text, $1, $2, 'ERROR: it failed', 0)`,
      [NEXT.checksum, NEXT.name],
    ),
  )
  await assertRefuses(t, url, [...local, NEXT], new RegExp(`${NEXT.name} failed earlier`))

  // `prisma migrate resolve --rolled-back` marks it; then it is applied again.
  await withClient(url, (c) =>
    c.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1`, [NEXT.name]),
  )
  t.same((await migrate(url, [...local, NEXT])).applied, [NEXT.name], 'applied once resolved')
  t.ok(await tableExists(url, 'next_table'))
})

t.test('an applied migration missing from prisma/migrations is refused', async (t) => {
  const url = await createEmptyDatabase(t)
  await migrate(url)
  await assertRefuses(t, url, [NEXT], new RegExp(`${localNames[0]} is missing`))
})

t.test('a failing migration leaves no row and no partial schema; earlier ones stay applied', async (t) => {
  const url = await createEmptyDatabase(t)
  const broken = migration('29990101000000_broken', 'CREATE TABLE half_done (id int); SELECT * FROM nowhere;')
  await t.rejects(migrate(url, [...local, broken]), {
    name: 'MigrationError',
    message: /29990101000000_broken/,
  })
  t.same(await appliedNames(url), localNames, 'the earlier migrations are recorded, the failed one is not')
  t.ok(
    (await history(url)).every((row) => row.finished_at !== null),
    'every recorded migration finished',
  )
  t.notOk(await tableExists(url, 'half_done'), 'nothing of the failed migration remains')

  const fixed = migration(broken.name, 'CREATE TABLE half_done (id int);')
  t.same((await migrate(url, [...local, fixed])).applied, [fixed.name], 'the fixed migration applies')
})

t.test('pendingMigrations lists the local migrations not applied', async (t) => {
  const url = await createEmptyDatabase(t)
  await migrate(url)
  await withClient(url, async (c) => {
    const query = async (sql: string) => (await c.query<{ migration_name: string }>(sql)).rows
    t.same(await pendingMigrations(query, local), [], 'none after migrate()')
    t.same(await pendingMigrations(query, [...local, NEXT]), [NEXT.name], 'a new local migration')

    const first = localNames[0]
    await c.query(`UPDATE "_prisma_migrations" SET finished_at = NULL WHERE migration_name = $1`, [first])
    t.same(await pendingMigrations(query, local), [first], 'an unfinished migration')
    await c.query(
      `UPDATE "_prisma_migrations" SET finished_at = now(), rolled_back_at = now() WHERE migration_name = $1`,
      [first],
    )
    t.same(await pendingMigrations(query, local), [first], 'a rolled-back migration')
  })
})
