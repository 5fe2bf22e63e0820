import type { PrismaClient } from '../db/prisma.ts'
import {
  HistoryGoneError,
  NotFoundError,
  ValidationError,
  VersionPrunedError,
} from '../errors/domain-errors.ts'
import type {
  CalendarChangesView,
  CalendarHistoryPage,
  CalendarHistoryQuery,
} from '../schemas/calendar-history.ts'
import type { CalendarSetView, CalendarView } from '../schemas/calendars.ts'
import { historyPage, pruneInBatches, versionBefore } from './history-versions.ts'

export interface CalendarHistoryOptions {
  /** HISTORY_KEEP_VERSIONS: the last this many versions of every set are kept, however old. */
  keepVersions: number
  /** HISTORY_KEEP_DAYS: every version younger than this is kept, however many. */
  keepDays: number
  /** Versions deleted per statement when pruning. */
  pruneBatch?: number
}

interface Bounds {
  current_version: number
  floor_version: number
}

/**
 * The history of calendar sets, written by every replace that changes one (replace_calendar_set, in
 * the replace's own statement): the list of versions, any kept version rebuilt, and what changed since
 * a version, for clients that keep a copy (like Google Calendar's sync tokens). Each read is one SQL
 * statement, so it sees one snapshot. Old versions are pruned in bounded batches (prune_calendar_history).
 */
export class CalendarHistoryService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: CalendarHistoryOptions,
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
    const [row] = await this.prisma.$queryRaw<(Bounds & { calendars: CalendarView[] | null })[]>`
      SELECT * FROM calendar_set_at(${userId}, ${version}::int)`
    if (!row?.calendars) throw this.outOfHistory(userId, version, row, 'read')
    return { userId, version, calendars: row.calendars }
  }

  /**
   * What changed since version `since`, net, and the current version as the next `since`: 410 when the
   * history since then is no longer kept (the client re-reads the set).
   */
  async changesSince(userId: string, since: number): Promise<CalendarChangesView> {
    // The database must decide: the net changes come from the history and today's rows in one snapshot.
    const [row] = await this.prisma.$queryRaw<
      (Bounds & {
        created: CalendarView[] | null
        updated: CalendarView[] | null
        deleted: { calendarId: string }[] | null
      })[]
    >`SELECT * FROM calendar_changes_since(${userId}, ${since}::int)`
    if (!row?.created || !row.updated || !row.deleted) {
      if (row && since < row.floor_version) {
        throw new HistoryGoneError(
          `the history of ${userId} before version ${row.floor_version} is no longer kept; read the whole set`,
        )
      }
      throw new ValidationError([
        {
          in: 'query',
          pointer: '/since',
          detail: `the set of ${userId} is at version ${row?.current_version ?? 0}; since cannot be newer`,
        },
      ])
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

  private outOfHistory(userId: string, version: number, bounds: Bounds | undefined, what: string): Error {
    const current = bounds?.current_version ?? 0
    if (version > current) return new NotFoundError(`the set of ${userId} is at version ${current}`)
    return new VersionPrunedError(
      `version ${version} of the set of ${userId} is no longer kept; cannot ${what} it`,
    )
  }
}
