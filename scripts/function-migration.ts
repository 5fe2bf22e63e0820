/**
 * Writes the migration that carries edited SQL functions: prisma/functions/<name>.sql holds each
 * function's one current definition; prisma/migrations/ is immutable history in Prisma's layout. This
 * copies the full text of the named function files into a new prisma/migrations/<UTC timestamp>_<name>/
 * migration.sql, so our runner and Prisma's own `migrate deploy` apply the same history.
 * test/db/schema-agreement.test.ts fails until the migration exists.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const FUNCTIONS_DIR = fileURLToPath(new URL('../prisma/functions', import.meta.url))
export const MIGRATIONS_DIR = fileURLToPath(new URL('../prisma/migrations', import.meta.url))

export interface FunctionMigrationOptions {
  /** Function names, each with a file prisma/functions/<name>.sql. */
  names: string[]
  /** The migration's name after the timestamp; defaults to the function names joined. */
  name?: string
  functionsDir?: string
  migrationsDir?: string
  now?: Date
}

export class FunctionMigrationError extends Error {
  override name = 'FunctionMigrationError'
}

/** The names of the function files in `dir` (prisma/functions/<name>.sql), sorted. */
export async function functionNames(dir = FUNCTIONS_DIR): Promise<string[]> {
  return (await readdir(dir))
    .filter((file) => file.endsWith('.sql'))
    .map((file) => file.slice(0, -'.sql'.length))
    .sort()
}

/** Writes the migration; returns its folder name, e.g. 20261206091500_replace_roster. */
export async function writeFunctionMigration(options: FunctionMigrationOptions): Promise<string> {
  const functionsDir = options.functionsDir ?? FUNCTIONS_DIR
  const migrationsDir = options.migrationsDir ?? MIGRATIONS_DIR
  const names = [...new Set(options.names)]
  if (names.length === 0) {
    throw new FunctionMigrationError('name at least one function: npm run db:function -- <name>...')
  }
  const known = await functionNames(functionsDir)
  const unknown = names.filter((name) => !known.includes(name))
  if (unknown.length > 0) {
    throw new FunctionMigrationError(
      `no file prisma/functions/<name>.sql for ${unknown.join(', ')}; the functions are: ${known.join(', ')}`,
    )
  }
  const migrationName = options.name ?? names.join('_')
  if (!/^[a-z0-9_]{1,200}$/.test(migrationName)) {
    throw new FunctionMigrationError(
      `the migration name must be lowercase letters, digits and _: ${migrationName}`,
    )
  }
  const definitions = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(join(functionsDir, `${name}.sql`), 'utf8')
      if (!new RegExp(`^CREATE OR REPLACE FUNCTION "${name}"\\(`, 'm').test(text)) {
        throw new FunctionMigrationError(
          `prisma/functions/${name}.sql must define the function as CREATE OR REPLACE FUNCTION "${name}"(...)`,
        )
      }
      return text.trimEnd()
    }),
  )
  const folder = `${await nextTimestamp(migrationsDir, options.now ?? new Date())}_${migrationName}`
  const sql = [
    `-- The current definition of ${names.join(', ')}, copied from prisma/functions/ by npm run db:function.`,
    "-- CREATE OR REPLACE cannot change a function's arguments or result type: for that, add",
    '-- DROP FUNCTION "<name>"(<old argument types>); above its definition.',
    '',
    definitions.join('\n\n'),
    '',
  ].join('\n')
  await mkdir(join(migrationsDir, folder))
  await writeFile(join(migrationsDir, folder, 'migration.sql'), sql)
  return folder
}

/** `now` in UTC as Prisma's YYYYMMDDHHMMSS, or one second after the newest migration when that is later. */
async function nextTimestamp(migrationsDir: string, now: Date): Promise<string> {
  const stamps = (await readdir(migrationsDir))
    .map((entry) => /^(\d{14})_/.exec(entry)?.[1])
    .filter((stamp): stamp is string => stamp !== undefined)
    .sort()
  const newest = stamps.at(-1)
  let at = Math.floor(now.getTime() / 1000) * 1000
  if (newest !== undefined) at = Math.max(at, parseStamp(newest) + 1000)
  return new Date(at).toISOString().replace(/\D/g, '').slice(0, 14)
}

function parseStamp(stamp: string): number {
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((at, i) =>
    Number(stamp.slice(at, at + (i === 0 ? 4 : 2))),
  )
  return Date.UTC(y ?? 0, (mo ?? 1) - 1, d, h, mi, s)
}
