/**
 * What set history costs PostgreSQL (issue 21), measured without HTTP, Prisma or the service: the same
 * calendar replaces (200 users, 20 calendars, half kept half rotated, as the calendar bench) through the
 * function with history, the same replace without any history
 * (bench/replace-calendar-set-without-history.sql), and three earlier histories, each in a database migrated
 * up to just before the change that replaced it: 20261206160000_calendar_history_on_version_row (a
 * calendar_changes row per changed calendar), 20261206140000_cheaper_calendar_history (no per-row
 * foreign key check, version row written once) and 20261206110000_lean_history (before and after images),
 * all on one PostgreSQL server:
 * - calls per second from `HISTORY_BENCH_CLIENTS` pg connections (default 2), in alternating slices;
 * - the functions' own time per call in the server (pg_stat_user_functions, track_functions = pl);
 * - WAL bytes (the call's own, from EXPLAIN (ANALYZE, WAL): not the server's, which other databases'
 *   autovacuum also writes) and history bytes (calendar_versions, and calendar_changes where it exists) per replace, from a
 *   sequential pass, and the serving backend's CPU time per replace (/proc/<pid>/stat, with the server on
 *   this machine) over sequential calls in alternating rounds: these three hardly depend on how loaded
 *   the machine is.
 * Run: npx tsx bench/history-cost.ts (npm run bench runs it too).
 */
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { readMigrations } from '../src/db/migrations.ts'
import type { CalendarInput } from '../src/services/calendars/calendar-schemas.ts'
import { calendarSetParameter } from '../src/services/calendars/calendar-service.ts'
import { withClient } from '../test/helpers/database.ts'
import { benchServer, createBenchDatabase, vacuum } from './database.ts'
import { type Cleanup, withCleanup } from './lib.ts'
import { measureRate, warmUpInterleaved } from './load.ts'
import { processStat } from './process-cpu.ts'
import { RotatingSets } from './workload.ts'

const LEAN_HISTORY = '20261206110000_lean_history'
const CHEAPER_HISTORY = '20261206140000_cheaper_calendar_history'
const HISTORY_ON_VERSION_ROW = '20261206160000_calendar_history_on_version_row'
const CLIENTS = Number(process.env.HISTORY_BENCH_CLIENTS ?? 2)
const USERS = 200
const SET_SIZE = 20
const WARMUP_CALLS = 600
const SLICE_MS = Number(process.env.HISTORY_BENCH_SLICE_MS ?? 2_000)
const ROUNDS = Number(process.env.HISTORY_BENCH_ROUNDS ?? 6)
const SEQUENTIAL_CALLS = 400
const CPU_CALLS = Number(process.env.HISTORY_BENCH_CPU_CALLS ?? 1_000)
const CPU_ROUNDS = 3

interface Contender {
  name: string
  databaseUrl: string
  functionName: string
  pool: pg.Pool
  sets: RotatingSets
  /** The set as this contender's replace_calendar_set takes it. */
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

let contenders = 0

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
    // User ids of one length for every contender (user0-17, user1-17, ...): an id is written into every
    // history row and index entry, so a longer one would cost its contender bytes.
    sets: new RotatingSets(`user${contenders++}`, USERS, SET_SIZE),
    parameterOf,
    calls: 0,
    seconds: 0,
  }
}

function replaceCall(side: Contender): { text: string; values: string[] } {
  const { userId, calendars } = side.sets.next()
  return {
    text: `SELECT * FROM ${side.functionName}($1, NULL, $2::jsonb${side.functionName === 'replace_calendar_set' ? ", 'service:bench', NULL" : ''})`,
    values: [userId, side.parameterOf(calendars)],
  }
}

function replaceNext(side: Contender): () => Promise<void> {
  return async () => {
    const call = replaceCall(side)
    const { rows } = await side.pool.query<{ answer: string | null }>(call.text, call.values)
    if (!rows[0]?.answer) throw new Error(`${side.name}: ${call.values[0]} got no answer`)
  }
}

/** WAL and history bytes per replace over a sequential pass of one connection. */
async function sequentialPass(side: Contender) {
  return withClient(side.databaseUrl, async (client) => {
    const historyBytes = async () =>
      Number(
        (
          await client.query<{ bytes: string }>(
            `SELECT coalesce(pg_total_relation_size(to_regclass('calendar_changes')), 0)
                    + pg_total_relation_size('calendar_versions') AS bytes`,
          )
        ).rows[0]?.bytes,
      )
    const historyBefore = await historyBytes()
    let walBytes = 0
    for (let i = 0; i < SEQUENTIAL_CALLS; i++) {
      const call = replaceCall(side)
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'WAL Bytes': number } }] }>(
        `EXPLAIN (ANALYZE, WAL, FORMAT JSON) ${call.text}`,
        call.values,
      )
      walBytes += rows[0]?.['QUERY PLAN'][0].Plan['WAL Bytes'] ?? Number.NaN
    }
    return {
      walBytes: walBytes / SEQUENTIAL_CALLS,
      historyBytes: ((await historyBytes()) - historyBefore) / SEQUENTIAL_CALLS,
    }
  })
}

/**
 * The serving backend's own CPU time (utime + stime, clock ticks of 10 ms) over `calls` plain sequential
 * calls: what a replace costs the server, hardly depending on how loaded the machine is. Only with the
 * server on this machine (NaN otherwise).
 */
async function serverCpu(side: Contender, calls: number): Promise<number> {
  return withClient(side.databaseUrl, async (client) => {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const cpuMs = async () => (await processStat(rows[0]?.pid ?? 0))?.cpuMs ?? Number.NaN
    const before = await cpuMs()
    for (let i = 0; i < calls; i++) {
      const call = replaceCall(side)
      await client.query(call.text, call.values)
    }
    return (await cpuMs()) - before
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

export interface HistoryCostRow {
  name: string
  callsPerSecond: number
  functionMs: number
  walBytes: number
  historyBytes: number
  cpuMs: number
}

export async function runHistoryCostBench(): Promise<HistoryCostRow[]> {
  return withCleanup(async (cleanup) => {
    const server = await benchServer(cleanup)
    const all = await readMigrations()
    const before = all.slice(
      0,
      all.findIndex((m) => m.name === LEAN_HISTORY),
    )
    const leanUrl = await createBenchDatabase(cleanup, { server })
    const oldUrl = await createBenchDatabase(cleanup, { server, migrations: before })
    const previousUrl = await createBenchDatabase(cleanup, {
      server,
      migrations: all.slice(
        0,
        all.findIndex((m) => m.name === CHEAPER_HISTORY),
      ),
    })
    const rowsUrl = await createBenchDatabase(cleanup, {
      server,
      migrations: all.slice(
        0,
        all.findIndex((m) => m.name === HISTORY_ON_VERSION_ROW),
      ),
    })
    const withoutHistory = await readFile(
      new URL('./replace-calendar-set-without-history.sql', import.meta.url),
      'utf8',
    )
    await withClient(leanUrl, (client) => client.query(withoutHistory))

    const sides = [
      contender('history', leanUrl, 'replace_calendar_set', cleanup),
      contender('without-history', leanUrl, 'replace_calendar_set_without_history', cleanup),
      contender('history-before-issue-21', oldUrl, 'replace_calendar_set', cleanup, snakeCaseRows),
      contender('history-before-20261206140000', previousUrl, 'replace_calendar_set', cleanup, snakeCaseRows),
      contender('history-before-20261206160000', rowsUrl, 'replace_calendar_set', cleanup),
    ]
    await warmUpInterleaved(sides.map(replaceNext), CLIENTS, WARMUP_CALLS)
    const perCall = new Map<string, { walBytes: number; historyBytes: number }>()
    for (const side of sides) perCall.set(side.name, await sequentialPass(side))
    const cpuMs = new Map<string, number>()
    for (let round = 0; round < CPU_ROUNDS; round++) {
      for (const side of round % 2 === 0 ? sides : sides.toReversed()) {
        cpuMs.set(side.name, (cpuMs.get(side.name) ?? 0) + (await serverCpu(side, CPU_CALLS)))
      }
    }
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
        ...(perCall.get(side.name) ?? { walBytes: Number.NaN, historyBytes: Number.NaN }),
        cpuMs: (cpuMs.get(side.name) ?? Number.NaN) / (CPU_ROUNDS * CPU_CALLS),
      })
    }
    return rows
  })
}

export function formatHistoryCostBench(figures: HistoryCostRow[]): string {
  const [lean, without, old, previous, rows] = figures
  if (!lean || !without || !old || !previous || !rows) throw new Error('a contender is missing')
  const ratio = lean.callsPerSecond / without.callsPerSecond
  const lines = [
    `history cost (replace_calendar_set over pg, no HTTP: with history vs the same replace without; ${CLIENTS} clients, ${ROUNDS} alternating rounds of ${SLICE_MS} ms)`,
    ...figures.map(
      (row) =>
        `  ${row.name.padEnd(30)} ${row.callsPerSecond.toFixed(0).padStart(5)} calls/s   ` +
        `${row.functionMs.toFixed(3)} ms in the function   ` +
        `${row.walBytes.toFixed(0)} WAL bytes/replace   ${row.historyBytes.toFixed(0)} history bytes/replace   ` +
        `${row.cpuMs.toFixed(3)} ms server CPU/replace`,
    ),
    `  history vs without history: throughput ${ratio.toFixed(2)} (goal >= 0.75: ${ratio >= 0.75 ? 'met' : 'MISSED'}), ` +
      `function time ${(without.functionMs / lean.functionMs).toFixed(2)}, ` +
      `server CPU ${(without.cpuMs / lean.cpuMs).toFixed(2)}`,
    `  before 20261206160000: ${(rows.callsPerSecond / without.callsPerSecond).toFixed(2)}, ${(without.functionMs / rows.functionMs).toFixed(2)}, ${(without.cpuMs / rows.cpuMs).toFixed(2)}; ` +
      `before 20261206140000: ${(previous.callsPerSecond / without.callsPerSecond).toFixed(2)}, ${(without.functionMs / previous.functionMs).toFixed(2)}, ${(without.cpuMs / previous.cpuMs).toFixed(2)}; ` +
      `before issue 21: ${(old.callsPerSecond / without.callsPerSecond).toFixed(2)}, ${(without.functionMs / old.functionMs).toFixed(2)}, ${(without.cpuMs / old.cpuMs).toFixed(2)}`,
    '',
  ]
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`)
  console.log(formatHistoryCostBench(await runHistoryCostBench()))
