import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts'
import { migrate } from '../src/db/migrate.ts'
import type { Migration } from '../src/db/migrations.ts'
import { withClient } from '../test/helpers/database.ts'
import type { Cleanup } from './lib.ts'

/**
 * A fresh, migrated database for one run: on DATABASE_URL's server when set, else on an embedded
 * PostgreSQL (fsync off) in a temporary directory. `cleanup` drops it and stops and removes the server.
 */
export async function createBenchDatabase(
  cleanup: Cleanup,
  options: { server?: string; migrations?: Migration[] } = {},
): Promise<string> {
  const server = options.server ?? (await benchServer(cleanup))
  const name = `rostersync_bench_${randomBytes(6).toString('hex')}`
  await withClient(server, (client) => client.query(`CREATE DATABASE ${name}`))
  cleanup.add(() => withClient(server, (client) => client.query(`DROP DATABASE ${name} WITH (FORCE)`)))
  const url = new URL(server)
  url.pathname = `/${name}`
  await migrate(url.toString(), options.migrations)
  return url.toString()
}

/** DATABASE_URL's server when set, else an embedded PostgreSQL (fsync off) stopped by `cleanup`. */
export async function benchServer(cleanup: Cleanup): Promise<string> {
  return process.env.DATABASE_URL || (await startThrowawayServer(cleanup))
}

/** Reclaims the dead rows of earlier phases and refreshes statistics, so each phase starts alike. */
export function vacuum(databaseUrl: string): Promise<unknown> {
  return withClient(databaseUrl, (client) =>
    client.query('VACUUM (ANALYZE) calendar_sets, managed_calendars, crew_calls, crew_assignments'),
  )
}

async function startThrowawayServer(cleanup: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rostersync-bench-'))
  cleanup.add(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user and must reach its data
  const server = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), durable: false })
  cleanup.add(() => server.stop())
  return server.url
}
