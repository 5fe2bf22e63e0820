import type { BodyStatements } from '../../db/body-statement.ts'
import type { PrismaClient } from '../../db/prisma.ts'
import type { IfMatch } from '../../schemas/common.ts'
import type { Author } from '../history/author.ts'
import { versionOutOfHistory } from '../history/history-versions.ts'
import type { KeyVerdict } from '../idempotency/key-store.ts'
import type { RequestKey } from '../idempotency/request-key.ts'
import { checkIfMatch, ifMatchVersions } from '../if-match.ts'
import type { CalendarInput, CalendarSetView, CalendarView } from './calendar-schemas.ts'

interface CalendarServiceDeps {
  prisma: PrismaClient
  /** The replace's statement, whose parameter is the PUT's body as it came (not through Prisma). */
  bodyStatements: BodyStatements
  /** The current request's Idempotency-Key (IdempotencyService.currentKey), taken by the write's statement. */
  currentKey: () => RequestKey | undefined
}

/** A replace's answer as PostgreSQL rendered it (ReplaceCalendarsResult as compact JSON), and its version. */
interface RenderedReplace {
  version: number
  json: string
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
 * A user's managed calendars, replaced as one set (G1-G3): atomic (one statement's transaction),
 * serialized per user (the function first locks the user's calendar_sets row), and keyed by
 * (user_id, calendar_id). A replace is one round trip whatever the set's size.
 */
export class CalendarService {
  constructor(private readonly deps: CalendarServiceDeps) {}

  /** The user's set in one statement, so version and rows come from the same snapshot. */
  async get(userId: string): Promise<CalendarSetView> {
    const rows = await this.deps.prisma.$queryRaw<(CalendarRow & { set_version: number | null })[]>`
      SELECT (SELECT version FROM calendar_sets WHERE user_id = ${userId}) AS set_version, mc.*
        FROM (VALUES (1)) AS one
        LEFT JOIN managed_calendars mc ON mc.user_id = ${userId}
       ORDER BY mc.calendar_id COLLATE "C"`
    const version = rows[0]?.set_version ?? 0
    // In byte order, as replace_calendar_set orders its answer.
    const calendars = rows.filter((row) => row.calendar_id !== null).map(toView)
    return { userId, version, calendars }
  }

  /**
   * Makes the user's set exactly the calendars of `body`: deletes the calendars not in it, inserts the
   * new ones, updates those whose fields differ, and leaves the rest (and every created_at) untouched.
   * The version rises by 1 only when something changed, so a replay reports everything unchanged.
   *
   * `body` is the PUT's body as UTF-8 JSON, `{"calendars": [CalendarListEntry, ...]}`, validated
   * (replaceCalendarsBodySchema; takeJsonBody says when it is sent as it came): PostgreSQL parses it as
   * the jsonb parameter, so a set of 10,000 calendars is held once, as its bytes, not as objects and
   * again as their serialization and Prisma's copies of that (BodyStatements).
   *
   * One round trip: the SQL function replace_calendar_set does it all in one statement and answers with
   * the response body as JSON text, which the route sends as is. With an Idempotency-Key, the same
   * statement takes the key and stores that answer as its response (docs/api.md, Idempotency).
   */
  async replace(
    userId: string,
    body: Buffer,
    ifMatch: IfMatch | undefined,
    author: Author,
  ): Promise<RenderedReplace> {
    const [result] = await this.write(ifMatch, (versions, key) =>
      // The database must decide: take the key, lock, compare, delete, upsert, record, render and store as
      // one statement. The body arrives as bytea (binary, as the client sent it) and becomes jsonb here.
      this.deps.bodyStatements.query<ReplaceResultRow>(
        `SELECT * FROM replace_calendar_set($1, $2::int[], convert_from($3::bytea, 'UTF8')::jsonb -> 'calendars',
                                            $4, $5, NULL, $6::jsonb)`,
        [userId, versions, body, author.actor, author.requestId, key],
      ),
    )
    return this.rendered(result, ifMatch)
  }

  /**
   * Makes the user's set equal to what it was at `version`, as a new version recorded as a restore:
   * atomic and serialized like a replace (the SQL function restore_calendar_set rebuilds the set under
   * the user's lock and replaces with it), and answered like one. A version no longer kept: 404
   * version-pruned; one the set never reached: 404.
   */
  async restore(
    userId: string,
    version: number,
    ifMatch: IfMatch | undefined,
    author: Author,
  ): Promise<RenderedReplace> {
    const [result] = await this.write(
      ifMatch,
      (versions, key) =>
        this.deps.prisma.$queryRaw<(ReplaceResultRow & { version_available: boolean })[]>`
        SELECT * FROM restore_calendar_set(${userId}, ${version}::int, ${versions}::int[], ${author.actor},
                                           ${author.requestId}, ${key}::jsonb)`,
    )
    if (result && !result.version_available) {
      throw versionOutOfHistory(version, result.version, `the set of ${userId}`)
    }
    return this.rendered(result, ifMatch)
  }

  /** Runs a set function, with the request's Idempotency-Key when it has one (taken in the same statement). */
  private write<Row extends ReplaceResultRow>(
    ifMatch: IfMatch | undefined,
    call: (versions: number[] | null, key: string | null) => Promise<Row[]>,
  ): Promise<Row[]> {
    const versions = ifMatchVersions(ifMatch)
    const key = this.deps.currentKey()
    return key ? key.inStatement((argument) => call(versions, argument)) : call(versions, null)
  }

  private rendered(result: ReplaceResultRow | undefined, ifMatch: IfMatch | undefined): RenderedReplace {
    if (!result) throw new Error('the calendar set function returned no row')
    if (result.answer === null) {
      checkIfMatch(ifMatch, result.version)
      throw new Error('the calendar set function refused a write If-Match allowed')
    }
    return { version: result.version, json: result.answer }
  }
}

interface ReplaceResultRow {
  version: number
  precondition_failed: boolean
  /** The answer's body; null when If-Match failed (nothing was written). */
  answer: string | null
  /** What the Idempotency-Key held instead of being taken (nothing was written); null otherwise. */
  key_verdict: KeyVerdict | null
}

/** A set as replace_calendar_set's jsonb parameter: CalendarListEntry objects, as the PUT's body holds them. */
export function calendarSetParameter(calendars: CalendarInput[]): string {
  return JSON.stringify(calendars)
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
