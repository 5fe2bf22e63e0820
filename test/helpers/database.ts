import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { migrate } from '../../src/db/migrate.ts'
import { readMigrations } from '../../src/db/migrations.ts'
import { startThrowawayPostgres } from './throwaway-postgres.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

let ownServer: Promise<string> | undefined

/**
 * The PostgreSQL server tests use: DATABASE_URL's, else the one scripts/test.ts started for the run,
 * else (a test file run on its own, `npx tap <file>`) an embedded one for this process, stopped when
 * the file's tests are done (and by its helper process if this one is killed: ./throwaway-postgres.ts).
 */
export function serverUrl(): Promise<string> {
  const given = process.env.DATABASE_URL ?? process.env.RS_TEST_PG_URL
  if (given) return Promise.resolve(given)
  ownServer ??= (async () => {
    // Imported here, not at the top: bench/ uses this module's withClient outside tap.
    const { t } = await import('tap')
    const server = startThrowawayPostgres()
    // A teardown on tap's root test runs after the file's last test, and root teardowns run last
    // registered first: this one, registered before any database exists, runs after those that drop
    // them. (A root teardown also lets tap end the file once it is idle, as `build(t)` already does.)
    t.teardown(async () => (await server.catch(() => undefined))?.stop())
    return (await server).url
  })()
  return ownServer
}

export function databaseUrl(server: string, database: string): string {
  const url = new URL(server)
  url.pathname = `/${database}`
  return url.toString()
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/**
 * A fresh, migrated database for one test file (or one test), dropped at teardown. Cloned from a
 * template database that is migrated once per set of migrations (its name carries their hash), so a
 * database costs one CREATE DATABASE ... TEMPLATE.
 */
export async function createTestDatabase(t: Teardown): Promise<string> {
  const server = await serverUrl()
  const template = await ensureTemplate(server)
  const name = `rs_test_${randomBytes(6).toString('hex')}`
  await withClient(server, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`))
  t.teardown(() => withClient(server, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  return databaseUrl(server, name)
}

/** An empty database with no migrations applied, for the migration runner's own tests. */
export async function createEmptyDatabase(t: Teardown): Promise<string> {
  const server = await serverUrl()
  const name = `rs_empty_${randomBytes(6).toString('hex')}`
  await withClient(server, (c) => c.query(`CREATE DATABASE ${name}`))
  t.teardown(() => withClient(server, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  return databaseUrl(server, name)
}

async function ensureTemplate(server: string): Promise<string> {
  const migrations = await readMigrations()
  const hash = createHash('sha256')
  for (const m of migrations) hash.update(`${m.name}:${m.checksum}\n`)
  const template = `rs_template_${hash.digest('hex').slice(0, 16)}`
  return withClient(server, async (c) => {
    const exists = async () =>
      (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [template])).rowCount === 1
    if (await exists()) return template
    // Test files start in parallel: one builds the template, the others wait for it.
    await c.query(`SELECT pg_advisory_lock(hashtext('rostersync-test-template'))`)
    try {
      if (await exists()) return template
      const building = `${template}_building`
      await c.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`)
      await c.query(`CREATE DATABASE ${building}`)
      await migrate(databaseUrl(server, building), migrations)
      await c.query(`ALTER DATABASE ${building} RENAME TO ${template}`)
      return template
    } finally {
      await c.query(`SELECT pg_advisory_unlock(hashtext('rostersync-test-template'))`)
    }
  })
}
