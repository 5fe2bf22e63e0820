import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { type Migration, readMigrations } from './migrations.ts'

/** The advisory lock key `prisma migrate deploy` takes, so our runner and Prisma's exclude each other. */
const PRISMA_MIGRATE_LOCK_KEY = 72707369

/** Prisma's own history table, column for column, so `prisma migrate status/deploy` read it as theirs. */
const CREATE_HISTORY_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"            VARCHAR(64) NOT NULL,
    "finished_at"         TIMESTAMPTZ,
    "migration_name"      VARCHAR(255) NOT NULL,
    "logs"                TEXT,
    "rolled_back_at"      TIMESTAMPTZ,
    "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`

export class MigrationError extends Error {
  override name = 'MigrationError'
}

interface MigrateResult {
  applied: string[]
  alreadyApplied: string[]
}

interface HistoryRow {
  migration_name: string
  checksum: string
  finished_at: Date | null
}

/**
 * Applies the pending migrations of prisma/migrations, each in its own transaction, recording them in
 * `_prisma_migrations`. Two instances starting together migrate once: the second waits on the advisory
 * lock and then finds nothing to do. Refuses (MigrationError) when an applied migration's file has
 * changed or vanished, or when a migration failed earlier (a row Prisma left unfinished).
 */
export async function migrate(connectionString: string, migrations?: Migration[]): Promise<MigrateResult> {
  const local = migrations ?? (await readMigrations())
  const client = new pg.Client({ connectionString, application_name: 'rostersync-migrate' })
  client.on('error', () => {}) // a terminated connection surfaces as the failed query below
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY])
    await client.query(CREATE_HISTORY_TABLE)
    const history = await client.query<HistoryRow>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations"
        WHERE rolled_back_at IS NULL ORDER BY started_at`,
    )
    const applied = verifyHistory(history.rows, local)
    const pending = local.filter((migration) => !applied.has(migration.name))
    for (const migration of pending) await applyOne(client, migration)
    return { applied: pending.map((m) => m.name), alreadyApplied: [...applied] }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]).catch(() => {})
    await client.end().catch(() => {})
  }
}

function verifyHistory(rows: HistoryRow[], local: Migration[]): Set<string> {
  const byName = new Map(local.map((migration) => [migration.name, migration]))
  const applied = new Set<string>()
  for (const row of rows) {
    if (row.finished_at === null) {
      throw new MigrationError(
        `migration ${row.migration_name} failed earlier and was never finished; ` +
          'fix the database, then mark it rolled back (prisma migrate resolve --rolled-back)',
      )
    }
    const file = byName.get(row.migration_name)
    if (!file) {
      throw new MigrationError(`applied migration ${row.migration_name} is missing from prisma/migrations`)
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${row.migration_name} was modified after it was applied ` +
          `(checksum ${row.checksum} in the database, ${file.checksum} on disk); add a new migration instead`,
      )
    }
    applied.add(row.migration_name)
  }
  return applied
}

async function applyOne(client: pg.Client, migration: Migration): Promise<void> {
  await client.query('BEGIN')
  try {
    const id = randomUUID()
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`,
      [id, migration.checksum, migration.name],
    )
    await client.query(migration.sql)
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    )
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`, {
      cause: error,
    })
  }
}

/** Names of local migrations not yet applied: the readiness check reports these. */
export async function pendingMigrations(
  query: (sql: string) => Promise<{ migration_name: string }[]>,
  local: Migration[],
): Promise<string[]> {
  const rows = await query(
    `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  )
  const applied = new Set(rows.map((row) => row.migration_name))
  return local.filter((migration) => !applied.has(migration.name)).map((migration) => migration.name)
}
