import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { FUNCTIONS_DIR, MIGRATIONS_DIR } from '../../scripts/function-migration.ts'
import { migrate } from '../../src/db/migrate.ts'
import { type Migration, readMigrations } from '../../src/db/migrations.ts'
import { createEmptyDatabase } from '../helpers/database.ts'
import { spawnWithoutTap } from '../helpers/spawn-without-tap.ts'
import {
  applyFunctionFiles,
  assertFunctionFilesAgree,
  functionDefinitions,
} from '../helpers/sql-functions.ts'

/**
 * `npm run db:function -- <name>` on a copy of prisma/: a function file edited without a migration
 * disagrees with the migrated database (what test/db/schema-agreement.test.ts catches), and the
 * migration the script writes makes the two agree again, applied by the same migration runner.
 */

const EDITED = 'calendar_history_floor'

const work = await mkdtemp(join(tmpdir(), 'rs-db-function-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const functionsDir = join(work, 'functions')
const migrationsDir = join(work, 'migrations')
await cp(FUNCTIONS_DIR, functionsDir, { recursive: true })
await cp(MIGRATIONS_DIR, migrationsDir, { recursive: true })
const before = await readMigrations(migrationsDir)

const file = join(functionsDir, `${EDITED}.sql`)
const original = await readFile(file, 'utf8')
const edited = original.replace('AS $$\n', () => 'AS $$\n    -- an edit no migration carries yet\n')
await writeFile(file, edited)

const migratedUrl = await createEmptyDatabase(t)
await migrate(migratedUrl, before)
const migrated = await connect(t, migratedUrl)

t.test('a function file edited without a migration disagrees with the migrated database', async (t) => {
  t.not(edited, original, 'the test edits the function body')
  const scratch = await migratedDatabase(t, before)
  const fromMigrations = await functionDefinitions(migrated)
  await applyFunctionFiles(scratch, functionsDir)
  const fromFiles = await functionDefinitions(scratch)
  const differ = [...fromMigrations.keys()].filter((name) => fromFiles.get(name) !== fromMigrations.get(name))
  t.same(differ, [EDITED], 'exactly the edited function differs')
})

t.test('the script refuses a function without a file, and writes nothing', async (t) => {
  const run = await runScript(['no_such_function'])
  t.equal(run.code, 1, 'exit code 1')
  t.match(run.stderr, /no file prisma\/functions\/<name>\.sql for no_such_function; the functions are: /)
  t.equal((await readMigrations(migrationsDir)).length, before.length, 'no migration written')
})

t.test('the migration the script writes makes the database agree with the files again', async (t) => {
  const run = await runScript([EDITED])
  t.equal(run.code, 0, `exit code 0 (stderr: ${run.stderr})`)
  const after = await readMigrations(migrationsDir)
  const added = after.filter((m) => !before.some((b) => b.name === m.name))
  t.equal(added.length, 1, 'one new migration')
  const [migration] = added
  if (!migration) return
  t.match(migration.name, new RegExp(`^\\d{14}_${EDITED}$`), "Prisma's layout: <UTC timestamp>_<name>")
  t.equal(after.at(-1)?.name, migration.name, 'it sorts after every earlier migration, so it applies last')
  t.match(run.stdout, `wrote prisma/migrations/${migration.name}/migration.sql`)
  t.ok(migration.sql.includes(edited.trimEnd()), 'it carries the full text of the edited function file')
  t.same(
    await readdir(join(migrationsDir, migration.name)),
    ['migration.sql'],
    'one migration.sql in the folder',
  )

  const result = await migrate(migratedUrl, after)
  t.same(result.applied, [migration.name], 'the runner applies it on a database migrated before')
  const scratch = await migratedDatabase(t, after)
  t.ok(await assertFunctionFilesAgree(t, migrated, scratch, functionsDir), 'files and database agree')
})

async function migratedDatabase(t: Test, migrations: Migration[]): Promise<pg.Client> {
  const url = await createEmptyDatabase(t)
  await migrate(url, migrations)
  return connect(t, url)
}

async function connect(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

async function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnWithoutTap(
    join('node_modules', '.bin', 'tsx'),
    ['scripts/db-function.ts', '--functions-dir', functionsDir, '--migrations-dir', migrationsDir, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}
