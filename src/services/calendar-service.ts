import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction, Tx } from '../db/transaction.ts'
import type {
  CalendarInput,
  CalendarSetView,
  CalendarView,
  ReplaceCalendarsResult,
} from '../schemas/calendars.ts'
import type { IfMatch } from '../schemas/common.ts'
import { checkIfMatch } from './if-match.ts'
import { changedAnything, countChanges, type RowChange, sortBy } from './set-changes.ts'

export interface CalendarServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
}

interface CalendarRow {
  calendar_id: string
  summary: string
  description: string | null
  time_zone: string | null
  background_color: string | null
  foreground_color: string | null
  access_role: CalendarView['accessRole']
  is_primary: boolean
  is_selected: boolean
  created_at: Date
  updated_at: Date
}

/**
 * A user's managed calendars, replaced as one set (G1-G3): atomic (one transaction), serialized per
 * user (the first statement locks the user's calendar_sets row), and keyed by (user_id, calendar_id).
 * A replace costs four statements whatever the set's size.
 */
export class CalendarService {
  constructor(private readonly deps: CalendarServiceDeps) {}

  /** The user's set in one statement, so version and rows come from the same snapshot. */
  async get(userId: string): Promise<CalendarSetView> {
    const rows = await this.deps.prisma.$queryRaw<(CalendarRow & { set_version: number | null })[]>`
      SELECT (SELECT version FROM calendar_sets WHERE user_id = ${userId}) AS set_version, mc.*
        FROM (VALUES (1)) AS one
        LEFT JOIN managed_calendars mc ON mc.user_id = ${userId}`
    const version = rows[0]?.set_version ?? 0
    const calendars = rows.filter((row) => row.calendar_id !== null).map(toView)
    return { userId, version, calendars: sortByCalendarId(calendars) }
  }

  /**
   * Makes the user's set exactly `calendars`: deletes the calendars not in it, inserts the new ones,
   * updates those whose fields differ, and leaves the rest (and every created_at) untouched. The
   * version rises by 1 only when something changed, so a replay reports everything unchanged.
   */
  async replace(
    userId: string,
    calendars: CalendarInput[],
    ifMatch?: IfMatch,
  ): Promise<ReplaceCalendarsResult> {
    const columns = toColumns(calendars)
    return this.deps.runInTransaction(async (tx) => {
      const current = await lockUserCalendarSet(tx, userId)
      checkIfMatch(ifMatch, current)
      const deleted = await tx.$executeRaw`
        DELETE FROM managed_calendars
         WHERE user_id = ${userId} AND calendar_id <> ALL (${columns.calendarId}::text[])`
      const rows = await upsertAndRead(tx, userId, columns, deleted)
      const changes = countChanges(rows, deleted)
      return {
        userId,
        version: changedAnything(changes) ? current + 1 : current,
        calendars: sortByCalendarId(rows.map(toView)),
        changes,
      }
    })
  }
}

/**
 * Upserts the user's calendar_sets row and returns its version. ON CONFLICT DO UPDATE takes the row's
 * lock, so concurrent replaces of one user queue here, and each later statement of the transaction
 * (READ COMMITTED) sees everything the previous holder committed.
 */
async function lockUserCalendarSet(tx: Tx, userId: string): Promise<number> {
  const [row] = await tx.$queryRaw<{ version: number }[]>`
    INSERT INTO calendar_sets (user_id) VALUES (${userId})
    ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
    RETURNING version`
  if (!row) throw new Error('calendar_sets upsert returned no row')
  return row.version
}

/**
 * One statement: upsert the whole set from arrays (ON CONFLICT, skipping rows whose fields are equal),
 * bump the version when anything changed, and return the final set with each row's change. Rows are
 * fed primary-last, so a calendar losing primary is demoted before its successor is promoted (the
 * one-primary index is checked row by row). Unchanged rows come from the statement's snapshot; NOT IN
(calendar_id is NOT NULL) lets PostgreSQL hash the upserted ids, where NOT EXISTS was planned as a
nested loop that made a 10,000-calendar replace quadratic.
 */
function upsertAndRead(tx: Tx, userId: string, c: Columns, deleted: number) {
  return tx.$queryRaw<(CalendarRow & { change: RowChange })[]>`
    WITH upserted AS (
      INSERT INTO managed_calendars AS mc (user_id, calendar_id, summary, description, time_zone,
             background_color, foreground_color, access_role, is_primary, is_selected)
      SELECT ${userId}, t.* FROM unnest(${c.calendarId}::text[], ${c.summary}::text[],
             ${c.description}::text[], ${c.timeZone}::text[], ${c.backgroundColor}::text[],
             ${c.foregroundColor}::text[], ${c.accessRole}::text[], ${c.primary}::boolean[],
             ${c.selected}::boolean[])
          AS t(calendar_id, summary, description, time_zone, background_color, foreground_color,
               access_role, is_primary, is_selected)
       ORDER BY t.is_primary
      ON CONFLICT (user_id, calendar_id) DO UPDATE SET
             summary = EXCLUDED.summary, description = EXCLUDED.description,
             time_zone = EXCLUDED.time_zone, background_color = EXCLUDED.background_color,
             foreground_color = EXCLUDED.foreground_color, access_role = EXCLUDED.access_role,
             is_primary = EXCLUDED.is_primary, is_selected = EXCLUDED.is_selected, updated_at = now()
       WHERE (mc.summary, mc.description, mc.time_zone, mc.background_color, mc.foreground_color,
              mc.access_role, mc.is_primary, mc.is_selected)
             IS DISTINCT FROM
             (EXCLUDED.summary, EXCLUDED.description, EXCLUDED.time_zone, EXCLUDED.background_color,
              EXCLUDED.foreground_color, EXCLUDED.access_role, EXCLUDED.is_primary, EXCLUDED.is_selected)
      RETURNING mc.*, CASE WHEN mc.xmax = 0 THEN 'created' ELSE 'updated' END AS change
    ), bumped AS (
      UPDATE calendar_sets SET version = version + 1, updated_at = now()
       WHERE user_id = ${userId} AND (${deleted}::int > 0 OR EXISTS (SELECT 1 FROM upserted))
    )
    SELECT * FROM upserted
    UNION ALL
    SELECT mc.*, 'unchanged' FROM managed_calendars mc
     WHERE mc.user_id = ${userId}
       AND mc.calendar_id NOT IN (SELECT u.calendar_id FROM upserted u)`
}

type Columns = ReturnType<typeof toColumns>

/** The set as one array per column, for unnest: a constant number of parameters for any size. */
function toColumns(calendars: CalendarInput[]) {
  return {
    calendarId: calendars.map((c) => c.calendarId),
    summary: calendars.map((c) => c.summary),
    description: calendars.map((c) => c.description ?? null),
    timeZone: calendars.map((c) => c.timeZone ?? null),
    backgroundColor: calendars.map((c) => c.backgroundColor ?? null),
    foregroundColor: calendars.map((c) => c.foregroundColor ?? null),
    accessRole: calendars.map((c) => c.accessRole ?? null),
    primary: calendars.map((c) => c.primary ?? false),
    selected: calendars.map((c) => c.selected ?? false),
  }
}

function toView(row: CalendarRow): CalendarView {
  return {
    calendarId: row.calendar_id,
    summary: row.summary,
    description: row.description,
    timeZone: row.time_zone,
    backgroundColor: row.background_color,
    foregroundColor: row.foreground_color,
    accessRole: row.access_role,
    primary: row.is_primary,
    selected: row.is_selected,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

const sortByCalendarId = (calendars: CalendarView[]) => sortBy(calendars, (calendar) => calendar.calendarId)
