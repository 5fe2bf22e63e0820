/**
 * What set history costs PostgreSQL (issue 21), measured without HTTP, Prisma or the service: the same
 * calendar replaces (200 users, 20 calendars, half kept half rotated, as the calendar bench) through the
 * function with history, the function before issue 21's leaner history (a second database migrated up to
 * just before 20261206110000_lean_history) and the same replace without any history
 * (bench/replace-calendar-set-without-history.sql), all on one PostgreSQL server:
 * - calls per second from `HISTORY_BENCH_CLIENTS` pg connections (default 2), in alternating slices;
 * - the functions' own time per call in the server (pg_stat_user_functions, track_functions = pl);
 * - WAL bytes and history bytes (calendar_changes, calendar_versions) per replace, from a sequential pass:
 *   these two do not depend on how loaded the machine is.
 * Run: npx tsx bench/history-cost.ts
 */
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { readMigrations } from '../src/db/migrations.ts'
import type { CalendarInput } from '../src/services/calendars/calendar-schemas.ts'
import { calendarSetParameter } from '../src/services/calendars/calendar-service.ts'
import { withClient } from '../test/helpers/database.ts'
import { benchServer, createBenchDatabase, vacuum } from './database.ts'
import { type Cleanup, withCleanup } from './lib.ts'
import { measureRate, runCalls } from './load.ts'
import { RotatingSets } from './workload.ts'

const LEAN_HISTORY = '20261206110000_lean_history'
const CLIENTS = Number(process.env.HISTORY_BENCH_CLIENTS ?? 2)
const USERS = 200
const SET_SIZE = 20
const WARMUP_CALLS = 600
const SLICE_MS = Number(process.env.HISTORY_BENCH_SLICE_MS ?? 2_000)
const ROUNDS = Number(process.env.HISTORY_BENCH_ROUNDS ?? 6)
const SEQUENTIAL_CALLS = 400

interface Contender {
  name: string
  databaseUrl: string
  functionName: string
  pool: pg.Pool
  sets: RotatingSets
  /** The set as the function's jsonb parameter. */
  parameterOf: (calendars: CalendarInput[]) => string
  calls: number
  seconds: number
}

/** The set in the shape replace_calendar_set took before migration 20261206140100 (its column names). */
function snakeCaseRows(calendars: CalendarInput[]): string {
  return JSON.stringify(
    calendars.map((c) => ({
      calendar_id: c.calendarId,
      summary: c.summary,
      description: c.description ?? null,
      time_zone: c.timeZone ?? null,
      background_color: c.backgroundColor ?? null,
      foreground_color: c.foregroundColor ?? null,
      access_role: c.accessRole ?? null,
      is_primary: c.primary ?? false,
      is_selected: c.selected ?? false,
    })),
  )
}

function contender(
  name: string,
  databaseUrl: string,
  functionName: string,
  cleanup: Cleanup,
  parameterOf: (calendars: CalendarInput[]) => string = calendarSetParameter,
): Contender {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CLIENTS, options: '-c track_functions=pl' })
  cleanup.add(async () => {
    if (!pool.ending) await pool.end()
  })
  return {
    name,
    databaseUrl,
    functionName,
    pool,
    sets: new RotatingSets(name, USERS, SET_SIZE),
    parameterOf,
    calls: 0,
    seconds: 0,
  }
}

function replaceNext(side: Contender, client: pg.Pool | pg.Client = side.pool): () => Promise<void> {
  return async () => {
    const { userId, calendars } = side.sets.next()
    const { rows } = await client.query<{ answer: string | null }>(
      `SELECT * FROM ${side.functionName}($1, NULL, $2::jsonb${side.functionName === 'replace_calendar_set' ? ", 'service:bench', NULL" : ''})`,
      [userId, side.parameterOf(calendars)],
    )
    if (!rows[0]?.answer) throw new Error(`${side.name}: ${userId} got no answer`)
  }
}

/** WAL and history bytes per replace over a sequential pass of one connection. */
async function sequentialPass(side: Contender) {
  return withClient(side.databaseUrl, async (client) => {
    const historyBytes = async () =>
      Number(
        (
          await client.query<{ bytes: string }>(
            "SELECT pg_total_relation_size('calendar_changes') + pg_total_relation_size('calendar_versions') AS bytes",
          )
        ).rows[0]?.bytes,
      )
    const lsn = async () =>
      (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn
    const historyBefore = await historyBytes()
    const walBefore = await lsn()
    const next = replaceNext(side, client)
    for (let i = 0; i < SEQUENTIAL_CALLS; i++) await next()
    const walAfter = await lsn()
    const wal = await client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($1, $2) AS bytes', [
      walAfter,
      walBefore,
    ])
    return {
      walBytes: Number(wal.rows[0]?.bytes) / SEQUENTIAL_CALLS,
      historyBytes: ((await historyBytes()) - historyBefore) / SEQUENTIAL_CALLS,
    }
  })
}

async function functionTime(side: Contender): Promise<number> {
  return withClient(side.databaseUrl, async (client) => {
    const { rows } = await client.query<{ calls: string; total_time: number }>(
      'SELECT calls, total_time FROM pg_stat_user_functions WHERE funcname = $1',
      [side.functionName],
    )
    const row = rows[0]
    return row ? row.total_time / Number(row.calls) : Number.NaN
  })
}

const figures = await withCleanup(async (cleanup) => {
  const server = await benchServer(cleanup)
  const all = await readMigrations()
  const before = all.slice(
    0,
    all.findIndex((m) => m.name === LEAN_HISTORY),
  )
  const leanUrl = await createBenchDatabase(cleanup, { server })
  const oldUrl = await createBenchDatabase(cleanup, { server, migrations: before })
  const withoutHistory = await readFile(
    new URL('./replace-calendar-set-without-history.sql', import.meta.url),
    'utf8',
  )
  await withClient(leanUrl, (client) => client.query(withoutHistory))

  const sides = [
    contender('history', leanUrl, 'replace_calendar_set', cleanup),
    contender('without-history', leanUrl, 'replace_calendar_set_without_history', cleanup),
    contender('history-before-issue-21', oldUrl, 'replace_calendar_set', cleanup, snakeCaseRows),
  ]
  for (const side of sides) await runCalls(replaceNext(side), CLIENTS, WARMUP_CALLS)
  const perCall = new Map<string, { walBytes: number; historyBytes: number }>()
  for (const side of sides) perCall.set(side.name, await sequentialPass(side))
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 === 0 ? sides : sides.toReversed()) {
      await vacuum(side.databaseUrl)
      const slice = await measureRate(replaceNext(side), CLIENTS, SLICE_MS)
      side.calls += slice.calls
      side.seconds += slice.seconds
    }
  }
  // A backend's function statistics reach the shared view when it exits.
  for (const side of sides) await side.pool.end()
  await new Promise((resolve) => setTimeout(resolve, 500))
  const rows = []
  for (const side of sides) {
    rows.push({
      name: side.name,
      callsPerSecond: side.calls / side.seconds,
      functionMs: await functionTime(side),
      ...perCall.get(side.name),
    })
  }
  return rows
})

const [lean, without, old] = figures
if (!lean || !without || !old) throw new Error('a contender is missing')
for (const row of figures) {
  console.log(
    `${row.name.padEnd(24)} ${row.callsPerSecond.toFixed(0).padStart(5)} calls/s   ` +
      `${row.functionMs.toFixed(3)} ms in the function   ` +
      `${row.walBytes?.toFixed(0)} WAL bytes/replace   ${row.historyBytes?.toFixed(0)} history bytes/replace`,
  )
}
console.log(
  `history vs without history: throughput ${(lean.callsPerSecond / without.callsPerSecond).toFixed(2)}, ` +
    `function time ${(without.functionMs / lean.functionMs).toFixed(2)} ` +
    `(before issue 21: ${(old.callsPerSecond / without.callsPerSecond).toFixed(2)}, ${(without.functionMs / old.functionMs).toFixed(2)}); ` +
    `${CLIENTS} clients, ${ROUNDS} rounds of ${SLICE_MS} ms each`,
)
