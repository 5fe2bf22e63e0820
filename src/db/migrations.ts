import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** prisma/migrations, wherever the code runs from (src/ with tsx, dist/src/ when built). */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url)).replace(
  /dist\/prisma\/migrations$/,
  'prisma/migrations',
)

export interface Migration {
  /** The folder name, e.g. 20261123120000_managed_calendars; its order is the apply order. */
  name: string
  sql: string
  /** sha256 of migration.sql, hex: the value Prisma keeps in _prisma_migrations.checksum. */
  checksum: string
}

/** Reads prisma/migrations/<timestamp>_<name>/migration.sql in Prisma's layout, oldest first. */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries
    .filter((entry) => entry.isDirectory() && /^\d{14}_[a-z0-9_]+$/.test(entry.name))
    .map((entry) => entry.name)
    .sort()
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    }),
  )
}
