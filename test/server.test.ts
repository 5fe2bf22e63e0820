import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { type CalendarPayload, calendarSet, calendarsUrl, ids } from './helpers/calendars.ts'
import { createEmptyDatabase, withClient } from './helpers/database.ts'
import { startServer, stopOrphanedPostgres } from './helpers/server-process.ts'
import { waitFor } from './helpers/wait.ts'

/** The real process, src/server.ts: boot, migrations, readiness, graceful shutdown, embedded database. */

interface CalendarSet {
  version: number
  calendars: CalendarPayload[]
}

const putCalendars = (baseUrl: string, userId: string, calendars: unknown) =>
  fetch(`${baseUrl}${calendarsUrl(userId)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ calendars }),
  })

t.test('with DATABASE_URL: migrates, serves, and finishes in-flight requests on SIGTERM', async (t) => {
  const databaseUrl = await createEmptyDatabase(t)
  const server = await startServer(t, { DATABASE_URL: databaseUrl })
  await server.ready()
  t.pass('ready on a database that had no migrations applied')

  await withClient(databaseUrl, async (holder) => {
    // Holds the row lock the replace of user 'held' needs first, so the PUT stays in flight.
    await holder.query('BEGIN')
    await holder.query(`INSERT INTO calendar_sets (user_id) VALUES ('held')`)
    const put = putCalendars(server.url, 'held', calendarSet('held', 2))
    await waitFor('the PUT to wait for the row lock', async () => {
      const { rows } = await holder.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'rostersync' AND wait_event_type = 'Lock'`,
      )
      return rows[0]?.waiting === 1
    })

    server.kill('SIGTERM')
    await waitFor('the server to stop accepting connections', async () => !(await server.listening()))
    t.ok(server.running(), 'the process waits for the request in flight')
    await holder.query('COMMIT')

    const response = await put
    t.equal(response.status, 200, 'the request in flight completes')
    t.same(ids(((await response.json()) as CalendarSet).calendars), ['held-0', 'held-1'])
  })
  t.equal(await server.exitCode(), 0, 'then the process exits with code 0', { output: server.output() })
  await withClient(databaseUrl, async (c) => {
    const { rows } = await c.query(`SELECT calendar_id FROM managed_calendars WHERE user_id = 'held'`)
    t.equal(rows.length, 2, 'the replace was committed')
  })
})

t.test('without DATABASE_URL: an embedded PostgreSQL that keeps its data across restarts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rostersync-server-'))
  await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user and must reach its data
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const dataDir = join(dir, 'pg')
  t.teardown(() => stopOrphanedPostgres(dataDir))
  const env = { EMBEDDED_PG_DATA_DIR: dataDir }
  const calendars = calendarSet('kept', 3)

  const first = await startServer(t, env)
  await first.ready(60_000)
  t.equal((await putCalendars(first.url, 'alice', calendars)).status, 200, 'a replace succeeds')
  first.kill('SIGTERM')
  t.equal(await first.exitCode(), 0, 'SIGTERM exits with code 0')
  t.notOk(existsSync(join(dataDir, 'postmaster.pid')), 'PostgreSQL was stopped with the server')

  const second = await startServer(t, env)
  await second.ready(60_000)
  const set = (await (await fetch(`${second.url}${calendarsUrl('alice')}`)).json()) as CalendarSet
  t.equal(set.version, 1)
  t.same(ids(set.calendars), ids(calendars), 'the calendars written before the restart are there')
  second.kill('SIGTERM')
  t.equal(await second.exitCode(), 0)
})
