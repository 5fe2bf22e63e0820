import pg from 'pg'
import type { FakeLine } from '../helpers/fake-flex/fake-flex.ts'
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
  /** Sync runs still marked `running` with no live lease on their crew call: their holder is gone. */
  runningSyncs: number
  /** Each calendar set's and roster's history, by register: its current version and kept versions, ascending. */
  histories: Map<string, { current: number; versions: number[] }>
  /** `<register> <version>`: the set or roster at that version, rebuilt from the history (calendar_set_at,
   * roster_at), canonical like the registers; undefined when not kept. */
  historyAt: Map<string, string | undefined>
}

export const crewCallKey = (c: Pick<ChaosCrewCall, 'jobId' | 'department'>) => `${c.jobId}/${c.department}`

/** Reads the final state straight from the tables (not through the API under test) and from Flex. */
export async function readFinalState(
  databaseUrl: string,
  flexLines: (elementId: string) => FakeLine[],
  /** `[register, version]` pairs to rebuild from the history (acknowledged replaces). */
  versionsToRebuild: [string, number][] = [],
): Promise<FinalState> {
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'rostersync-chaos' })
  await db.connect()
  try {
    const state = await readTables(db, flexLines)
    const histories = await db.query<{ register: string; current: number; versions: number[] }>(
      `SELECT 'calendars:' || cs.user_id AS register, cs.version AS current,
              coalesce(array_agg(cv.version ORDER BY cv.version) FILTER (WHERE cv.version IS NOT NULL), '{}') AS versions
         FROM calendar_sets cs LEFT JOIN calendar_versions cv ON cv.user_id = cs.user_id
        GROUP BY cs.user_id, cs.version
       UNION ALL
       SELECT 'roster:' || cc.job_id || '/' || cc.department, cc.version,
              coalesce(array_agg(rv.version ORDER BY rv.version) FILTER (WHERE rv.version IS NOT NULL), '{}')
         FROM crew_calls cc LEFT JOIN roster_versions rv ON rv.crew_call_id = cc.id
        GROUP BY cc.id, cc.job_id, cc.department, cc.version`,
    )
    const historyAt = new Map<string, string | undefined>()
    for (const [register, version] of versionsToRebuild) {
      historyAt.set(`${register} ${version}`, await rebuild(db, register, version))
    }
    return {
      ...state,
      histories: new Map(
        histories.rows.map((r) => [r.register, { current: r.current, versions: r.versions }]),
      ),
      historyAt,
    }
  } finally {
    await db.end()
  }
}

/** A calendar set or roster at a version, rebuilt by the history's own SQL, in canonical form. */
async function rebuild(db: pg.Client, register: string, version: number): Promise<string | undefined> {
  const [kind, name = ''] = [
    register.slice(0, register.indexOf(':')),
    register.slice(register.indexOf(':') + 1),
  ]
  if (kind === 'calendars') {
    const { rows } = await db.query<{ calendars: { calendarId: string; summary: string }[] | null }>(
      'SELECT calendars FROM calendar_set_at($1, $2)',
      [name, version],
    )
    const calendars = rows[0]?.calendars
    return calendars ? canonicalSet(calendars.map((c) => [c.calendarId, c.summary])) : undefined
  }
  const [jobId, department] = name.split('/')
  const { rows } = await db.query<{ assignments: { technicianId: string; role: string | null }[] | null }>(
    `SELECT r.assignments FROM crew_calls cc, roster_at(cc.id, $3) r WHERE cc.job_id = $1 AND cc.department = $2`,
    [jobId, department, version],
  )
  const assignments = rows[0]?.assignments
  return assignments ? canonicalSet(assignments.map((a) => [a.technicianId, a.role])) : undefined
}

async function readTables(
  db: pg.Client,
  flexLines: (elementId: string) => FakeLine[],
): Promise<Omit<FinalState, 'histories' | 'historyAt'>> {
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

  // Left running: a run whose holder is gone (no live lease on its crew call). A run in progress under a
  // live lease is not: autonomous servers keep repairing drift (SYNC_RESYNC_INTERVAL_MS) while this is read.
  const running = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM sync_runs r JOIN crew_calls cc ON cc.id = r.crew_call_id
      WHERE r.status = 'running' AND (cc.sync_lease_until IS NULL OR cc.sync_lease_until < now())`,
  )
  return { registers, crewCalls, runningSyncs: running.rows[0]?.count ?? 0 }
}

/**
 * Every committed version of every calendar set and roster, as `<register> <version>`, with the `data`
 * its webhook event must carry when the version is still in the history (version 1 up to the current
 * one committed: checkHistory holds the history gap-free; a version pruned from it maps to undefined).
 */
export async function readCommittedVersions(
  databaseUrl: string,
): Promise<Map<string, Record<string, unknown> | undefined>> {
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'rostersync-chaos' })
  await db.connect()
  try {
    const current = await db.query<{ register: string; current: number }>(
      `SELECT 'calendars:' || user_id AS register, version AS current FROM calendar_sets
       UNION ALL
       SELECT 'roster:' || job_id || '/' || department, version FROM crew_calls`,
    )
    const kept = await db.query<{ register: string; version: number; data: Record<string, unknown> }>(
      `SELECT 'calendars:' || user_id AS register, version,
              jsonb_build_object('userId', user_id, 'version', version, 'created', created, 'updated', updated,
                                 'deleted', deleted, 'restoredFrom', restored_from) AS data
         FROM calendar_versions
       UNION ALL
       SELECT 'roster:' || cc.job_id || '/' || cc.department, rv.version,
              jsonb_build_object('jobId', cc.job_id, 'department', cc.department, 'version', rv.version)
         FROM roster_versions rv JOIN crew_calls cc ON cc.id = rv.crew_call_id`,
    )
    const data = new Map(kept.rows.map((r) => [`${r.register} ${r.version}`, r.data]))
    const committed = new Map<string, Record<string, unknown> | undefined>()
    for (const { register, current: last } of current.rows) {
      for (let version = 1; version <= last; version++) {
        const key = `${register} ${version}`
        committed.set(key, data.get(key))
      }
    }
    return committed
  } finally {
    await db.end()
  }
}
