import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type pg from 'pg'
import type { Test } from 'tap'
import { FUNCTIONS_DIR, functionNames } from '../../scripts/function-migration.ts'

/**
 * Each function of the public schema as PostgreSQL prints it (pg_get_functiondef), by name; a name
 * with several overloads maps to all of them, sorted, so an overload shows up as a difference.
 * Normalised: line endings and trailing spaces only (the body text is kept as written).
 */
export async function functionDefinitions(client: pg.Client): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `SELECT p.proname AS name, pg_get_functiondef(p.oid) AS definition
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND p.prokind = 'f'
      ORDER BY p.proname, pg_get_functiondef(p.oid)`,
  )
  const definitions = new Map<string, string>()
  for (const { name, definition } of rows) {
    const text = normalise(definition)
    const earlier = definitions.get(name)
    definitions.set(name, earlier === undefined ? text : `${earlier}\n-- overload --\n${text}`)
  }
  return definitions
}

/** Runs every prisma/functions/*.sql on the database; a file that fails names itself. */
export async function applyFunctionFiles(client: pg.Client, dir = FUNCTIONS_DIR): Promise<string[]> {
  const names = await functionNames(dir)
  for (const name of names) {
    const sql = await readFile(join(dir, `${name}.sql`), 'utf8')
    try {
      await client.query(sql)
    } catch (error) {
      throw new Error(`prisma/functions/${name}.sql does not apply on the migrated database: ${error}`)
    }
  }
  return names
}

function normalise(definition: string): string {
  return definition
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trim()
}

/**
 * Asserts that the function files and the migrations agree: `migrated` is a migrated database,
 * `scratch` another one that gets every function file applied. The same functions on both sides, each
 * printed the same by pg_get_functiondef. Returns whether they all agreed.
 */
export async function assertFunctionFilesAgree(
  t: Test,
  migrated: pg.Client,
  scratch: pg.Client,
  dir = FUNCTIONS_DIR,
): Promise<boolean> {
  const fromMigrations = await functionDefinitions(migrated)
  const files = await applyFunctionFiles(scratch, dir)
  const fromFiles = await functionDefinitions(scratch)
  let agree = t.same(
    files,
    [...fromMigrations.keys()].sort(),
    'every function the migrations define has a file prisma/functions/<name>.sql, and every file a function',
  )
  for (const name of new Set([...files, ...fromMigrations.keys()])) {
    agree =
      t.equal(
        fromFiles.get(name),
        fromMigrations.get(name),
        `${name}: prisma/functions/${name}.sql is what the migrations define (edited without a migration? npm run db:function -- ${name})`,
      ) && agree
  }
  return agree
}
