import type { PrismaClient } from '../../db/prisma.ts'
import {
  type HistoryBounds,
  type HistoryOptions,
  historyPage,
  pruneInBatches,
  sinceOutOfHistory,
  versionBefore,
  versionOutOfHistory,
} from '../history/history-versions.ts'
import type {
  CalendarChangesView,
  CalendarHistoryPage,
  CalendarHistoryQuery,
} from './calendar-history-schemas.ts'
import type { CalendarSetView, CalendarView } from './calendar-schemas.ts'

/**
 * The history of calendar sets, written by every replace that changes one (replace_calendar_set, in
 * the replace's own statement): the list of versions, any kept version rebuilt, and what changed since
 * a version, for clients that keep a copy (like Google Calendar's sync tokens). Each read is one SQL
 * statement, so it sees one snapshot. Old versions are pruned in bounded batches (prune_calendar_history).
 */
export class CalendarHistoryService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: HistoryOptions,
  ) {}

  /** The versions of the user's set, newest first, a page at a time. */
  async history(userId: string, query: CalendarHistoryQuery): Promise<CalendarHistoryPage> {
    const before = versionBefore(query.cursor)
    const rows = await this.prisma.calendarVersion.findMany({
      where: { userId, ...(before !== undefined && { version: { lt: before } }) },
      orderBy: { version: 'desc' },
      take: query.limit + 1,
    })
    return { userId, ...historyPage(rows, query.limit) }
  }

  /** The set exactly as it was at `version`: 404 version-pruned when no longer kept, 404 when never reached. */
  async setAt(userId: string, version: number): Promise<CalendarSetView> {
    // The database must decide: the rebuild reads today's rows and the changes since in one snapshot.
    const [row] = await this.prisma.$queryRaw<(HistoryBounds & { calendars: CalendarView[] | null })[]>`
      SELECT * FROM calendar_set_at(${userId}, ${version}::int)`
    if (!row) throw new Error('calendar_set_at returned no row')
    if (!row.calendars) throw versionOutOfHistory(version, row.current_version, `the set of ${userId}`)
    return { userId, version, calendars: row.calendars }
  }

  /**
   * What changed since version `since`, net, and the current version as the next `since`: 410 when the
   * history since then is no longer kept (the client re-reads the set).
   */
  async changesSince(userId: string, since: number): Promise<CalendarChangesView> {
    // The database must decide: the net changes come from the history and today's rows in one snapshot.
    const [row] = await this.prisma.$queryRaw<
      (HistoryBounds & {
        created: CalendarView[] | null
        updated: CalendarView[] | null
        deleted: { calendarId: string }[] | null
      })[]
    >`SELECT * FROM calendar_changes_since(${userId}, ${since}::int)`
    if (!row) throw new Error('calendar_changes_since returned no row')
    if (!row.created || !row.updated || !row.deleted) {
      throw sinceOutOfHistory(since, row, `the set of ${userId}`, 'set')
    }
    return {
      userId,
      since,
      version: row.current_version,
      created: row.created,
      updated: row.updated,
      deleted: row.deleted,
    }
  }

  /** Deletes versions no longer kept, in batches, until none is left; returns how many. */
  prune(maxBatches = 10): Promise<number> {
    const { keepVersions, keepDays } = this.options
    return pruneInBatches(
      async (batchSize) => {
        // The database must decide: which versions each set keeps depends on its current version.
        const [row] = await this.prisma.$queryRaw<{ pruned: number }[]>`
          SELECT prune_calendar_history(${keepVersions}::int, ${keepDays}::int, ${batchSize}::int) AS pruned`
        return row?.pruned ?? 0
      },
      this.options.pruneBatch ?? 1000,
      maxBatches,
    )
  }
}
