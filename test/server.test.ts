import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { type CalendarPayload, calendarSet, calendarsUrl, ids } from './helpers/calendars.ts'
import { createEmptyDatabase, withClient } from './helpers/database.ts'
import { startServer, stopOrphanedPostgres } from './helpers/server-process.ts'
import { waitFor } from './helpers/wait.ts'

/**
 * The real process, src/server.ts: boot, migrations, readiness, graceful shutdown, embedded database,
 * the service key it generates when no credential is configured.
 */

const SERVICE_KEY = 'server-test-key-0123456789'
const AUTH = { AUTH_SERVICE_KEYS: `server-test:${SERVICE_KEY}` }

interface CalendarSet {
  version: number
  calendars: CalendarPayload[]
}

const putCalendars = (baseUrl: string, userId: string, calendars: unknown, key = SERVICE_KEY) =>
  fetch(`${baseUrl}${calendarsUrl(userId)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ calendars }),
  })

t.test('with DATABASE_URL: migrates, serves, and finishes in-flight requests on SIGTERM', async (t) => {
  const databaseUrl = await createEmptyDatabase(t)
  // The PUT below waits on a row lock for as long as the test needs: on a loaded machine that may be
  // longer than the default lock_timeout (10 s), which would answer it 503 before the SIGTERM.
  const server = await startServer(t, { DATABASE_URL: databaseUrl, DB_LOCK_TIMEOUT_MS: '120000', ...AUTH })
  await server.ready()
  t.pass('ready on a database that had no migrations applied')

  const waited = await withClient(databaseUrl, async (holder) => {
    // Holds the row lock the replace of user 'held' needs first, so the PUT stays in flight.
    await holder.query('BEGIN')
    await holder.query(`INSERT INTO calendar_sets (user_id) VALUES ('held')`)
    const put = putCalendars(server.url, 'held', calendarSet('held', 2))
    // The PUT cannot end while the lock is held: if it does, say how instead of waiting out the timeout.
    const ended = put.then(
      async (response) => `HTTP ${response.status} ${await response.clone().text()}`,
      (error: Error) => `no answer: ${error.message}`,
    )
    const waiting = waitFor(
      'the PUT to wait for the row lock',
      async () => {
        // The holder is inside its transaction, where pg_stat_activity is read once and kept: without
        // clearing that snapshot, a first look taken before the PUT waits would be all this poll sees.
        await holder.query('SELECT pg_stat_clear_snapshot()')
        const { rows } = await holder.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'rostersync' AND wait_event_type = 'Lock'`,
        )
        return (rows[0]?.waiting ?? 0) > 0
      },
      // A loaded machine (the whole suite on two cores) may take a while to start the first request.
      { timeoutMs: 30_000 },
    )
    waiting.catch(() => {}) // when the PUT ended first, the assertion below reports it
    const endedFirst = await Promise.race([waiting.then(() => undefined), ended])
    if (endedFirst !== undefined) {
      t.fail(`the PUT ended before it waited for the row lock: ${endedFirst}`, { output: server.output() })
      return false
    }
    t.pass('the PUT waits for the row lock')

    server.kill('SIGTERM')
    await waitFor('the server to stop accepting connections', async () => !(await server.listening()))
    t.ok(server.running(), 'the process waits for the request in flight')
    await holder.query('COMMIT')

    const response = await put
    t.equal(response.status, 200, 'the request in flight completes')
    t.same(ids(((await response.json()) as CalendarSet).calendars), ['held-0', 'held-1'])
    return true
  })
  if (!waited) return
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
  const env = { EMBEDDED_PG_DATA_DIR: dataDir, ...AUTH }
  const calendars = calendarSet('kept', 3)

  const first = await startServer(t, env)
  await first.ready(60_000)
  t.equal((await putCalendars(first.url, 'alice', calendars)).status, 200, 'a replace succeeds')
  first.kill('SIGTERM')
  t.equal(await first.exitCode(), 0, 'SIGTERM exits with code 0')
  t.notOk(existsSync(join(dataDir, 'postmaster.pid')), 'PostgreSQL was stopped with the server')

  const second = await startServer(t, env)
  await second.ready(60_000)
  const read = await fetch(`${second.url}${calendarsUrl('alice')}`, {
    headers: { authorization: `Bearer ${SERVICE_KEY}` },
  })
  const set = (await read.json()) as CalendarSet
  t.equal(set.version, 1)
  t.same(ids(set.calendars), ids(calendars), 'the calendars written before the restart are there')
  second.kill('SIGTERM')
  t.equal(await second.exitCode(), 0)
})

t.test('without any credential: generates a service key once, keeps it private, reuses it', async (t) => {
  const databaseUrl = await createEmptyDatabase(t)
  const dir = await mkdtemp(join(tmpdir(), 'rostersync-key-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const keyFile = join(dir, 'data', 'service-key')
  const env = { DATABASE_URL: databaseUrl, AUTH_SERVICE_KEY_FILE: keyFile }

  const first = await startServer(t, env)
  await first.ready()
  const key = (await readFile(keyFile, 'utf8')).trim()
  t.match(key, /^[\w-]{43}$/, 'the key is 32 random bytes, base64url')
  t.equal((await stat(keyFile)).mode & 0o777, 0o600, 'the key file is readable by its owner only')
  t.equal((await putCalendars(first.url, 'alice', calendarSet('a', 1), key)).status, 200, 'the key works')
  t.equal((await putCalendars(first.url, 'alice', [], 'some-other-key-0123456789')).status, 401)
  t.equal((await fetch(`${first.url}${calendarsUrl('alice')}`)).status, 401, 'no key: 401')
  t.match(first.output(), `authorization: Bearer $(cat ${keyFile})`, 'the log says how to use it')
  t.notMatch(first.output(), key, 'the key itself is never printed')
  first.kill('SIGTERM')
  t.equal(await first.exitCode(), 0)

  const second = await startServer(t, env)
  await second.ready()
  t.equal((await readFile(keyFile, 'utf8')).trim(), key, 'a restart keeps the key')
  const read = await fetch(`${second.url}${calendarsUrl('alice')}`, {
    headers: { authorization: `Bearer ${key}` },
  })
  t.equal(read.status, 200, 'and accepts it')
  t.same(ids(((await read.json()) as CalendarSet).calendars), ['a-0'])
  t.notMatch(second.output(), key, 'the key is not printed on later starts either')
  second.kill('SIGTERM')
  t.equal(await second.exitCode(), 0)
})

t.test('a configured credential: no key file is generated', async (t) => {
  const databaseUrl = await createEmptyDatabase(t)
  const dir = await mkdtemp(join(tmpdir(), 'rostersync-key-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const keyFile = join(dir, 'service-key')
  const server = await startServer(t, { DATABASE_URL: databaseUrl, AUTH_SERVICE_KEY_FILE: keyFile, ...AUTH })
  await server.ready()
  t.equal((await putCalendars(server.url, 'bob', [])).status, 200)
  t.notOk(existsSync(keyFile), 'no key file')
  server.kill('SIGTERM')
  t.equal(await server.exitCode(), 0)
})

t.test('an invalid credential setting stops the server at boot, naming the variable', async (t) => {
  const server = await startServer(t, { AUTH_SERVICE_KEYS: 'ci:short' })
  t.not(await server.exitCode(), 0)
  t.match(server.output(), /AUTH_SERVICE_KEYS/)
  t.notMatch(server.output(), /short/, 'without echoing the key')
})
