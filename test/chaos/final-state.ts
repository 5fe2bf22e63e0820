import pg from 'pg'
import type { FakeLine } from '../helpers/fake-flex.ts'
import {
  assignmentRegister,
  type ChaosCrewCall,
  CREW_CALLS,
  calendarRegister,
  canonicalSet,
  rosterRegister,
} from './scenario.ts'

export interface RosterRow {
  technicianId: string
  flexResourceId: string
  role: string | null
  flexLineItemId: string | null
}

/** What the database and Flex hold once the load and the faults have stopped. */
export interface FinalState {
  /** Register -> its final value, for every register that is not at its initial value. */
  registers: Map<string, string>
  /** Per crew call (`jobId/department`): the roster in the database, and the crew lines in Flex. */
  crewCalls: Map<string, { crewCall: ChaosCrewCall; roster: RosterRow[]; lines: FakeLine[] }>
  /** Sync runs still marked `running`. */
  runningSyncs: number
  /** Each user's calendar history: its current version and the versions it keeps, ascending. */
  calendarHistories: Map<string, { current: number; versions: number[] }>
  /** The set at a version, rebuilt from the history (calendar_set_at), canonical like the registers; undefined when not kept. */
  calendarSetAt: Map<string, string | undefined>
}

export const crewCallKey = (c: Pick<ChaosCrewCall, 'jobId' | 'department'>) => `${c.jobId}/${c.department}`

/** Reads the final state straight from the tables (not through the API under test) and from Flex. */
export async function readFinalState(
  databaseUrl: string,
  flexLines: (elementId: string) => FakeLine[],
  /** `userId version` pairs whose set to rebuild from the history (acknowledged replaces). */
  calendarVersions: [string, number][] = [],
): Promise<FinalState> {
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'rostersync-chaos' })
  await db.connect()
  try {
    const state = await readTables(db, flexLines)
    const histories = await db.query<{ user_id: string; current: number; versions: number[] }>(
      `SELECT cs.user_id, cs.version AS current,
              coalesce(array_agg(cv.version ORDER BY cv.version) FILTER (WHERE cv.version IS NOT NULL), '{}') AS versions
         FROM calendar_sets cs LEFT JOIN calendar_versions cv ON cv.user_id = cs.user_id
        GROUP BY cs.user_id, cs.version`,
    )
    const calendarSetAt = new Map<string, string | undefined>()
    for (const [userId, version] of calendarVersions) {
      const { rows } = await db.query<{ calendars: { calendarId: string; summary: string }[] | null }>(
        'SELECT calendars FROM calendar_set_at($1, $2)',
        [userId, version],
      )
      const calendars = rows[0]?.calendars
      calendarSetAt.set(
        `${userId} ${version}`,
        calendars ? canonicalSet(calendars.map((c) => [c.calendarId, c.summary])) : undefined,
      )
    }
    return {
      ...state,
      calendarHistories: new Map(
        histories.rows.map((r) => [r.user_id, { current: r.current, versions: r.versions }]),
      ),
      calendarSetAt,
    }
  } finally {
    await db.end()
  }
}

async function readTables(
  db: pg.Client,
  flexLines: (elementId: string) => FakeLine[],
): Promise<Omit<FinalState, 'calendarHistories' | 'calendarSetAt'>> {
  const registers = new Map<string, string>()
  const calendars = await db.query<{ user_id: string; calendar_id: string; summary: string }>(
    'SELECT user_id, calendar_id, summary FROM managed_calendars',
  )
  const byUser = new Map<string, [string, string][]>()
  for (const row of calendars.rows) {
    byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), [row.calendar_id, row.summary]])
  }
  for (const [userId, pairs] of byUser) registers.set(calendarRegister(userId), canonicalSet(pairs))

  const assignments = await db.query<{
    job_id: string
    department: string
    technician_id: string
    flex_resource_id: string
    role: string | null
    flex_line_item_id: string | null
  }>(
    `SELECT cc.job_id, cc.department, ca.technician_id, t.flex_resource_id, ca.role, ca.flex_line_item_id
       FROM crew_assignments ca JOIN crew_calls cc ON cc.id = ca.crew_call_id
       JOIN technicians t ON t.id = ca.technician_id`,
  )
  const crewCalls: FinalState['crewCalls'] = new Map(
    CREW_CALLS.map((crewCall) => [
      crewCallKey(crewCall),
      { crewCall, roster: [], lines: flexLines(crewCall.flexElementId) },
    ]),
  )
  for (const row of assignments.rows) {
    const entry = crewCalls.get(`${row.job_id}/${row.department}`)
    if (!entry) throw new Error(`an assignment of an unknown crew call ${row.job_id}/${row.department}`)
    entry.roster.push({
      technicianId: row.technician_id,
      flexResourceId: row.flex_resource_id,
      role: row.role,
      flexLineItemId: row.flex_line_item_id,
    })
  }
  for (const { crewCall, roster } of crewCalls.values()) {
    if (crewCall.writes === 'replace') {
      if (roster.length > 0)
        registers.set(rosterRegister(crewCall), canonicalSet(roster.map((r) => [r.technicianId, r.role])))
    } else {
      for (const r of roster) registers.set(assignmentRegister(crewCall, r.technicianId), r.role ?? 'null')
    }
  }

  const running = await db.query<{ count: number }>(
    "SELECT count(*)::int AS count FROM sync_runs WHERE status = 'running'",
  )
  return { registers, crewCalls, runningSyncs: running.rows[0]?.count ?? 0 }
}
