import type { PrismaClient } from '../../db/prisma.ts'
import { NotFoundError } from '../../errors/domain-errors.ts'
import type { Department } from '../../schemas/departments.ts'
import type { PageQuery } from '../../schemas/pagination.ts'
import {
  type HistoryBounds,
  type HistoryOptions,
  historyPage,
  pruneInBatches,
  sinceOutOfHistory,
  versionBefore,
  versionOutOfHistory,
} from '../history/history-versions.ts'
import { crewCallName, rosterName } from './crew-call-service.ts'
import type { RosterView } from './crew-schemas.ts'
import type { RosterChangesView, RosterHistoryPage } from './roster-history-schemas.ts'

interface CrewCallKey {
  jobId: string
  department: Department
}

type HistoryAssignment = { technicianId: string; role: string | null }

/**
 * The history of crew call rosters, written by every roster change (mark_roster_changed, in the
 * change's own transaction): the versions, any kept version rebuilt, and the net changes since a
 * version, as CalendarHistoryService does for calendar sets. Pruned with the same settings.
 */
export class RosterHistoryService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: HistoryOptions,
  ) {}

  async history(key: CrewCallKey, query: PageQuery): Promise<RosterHistoryPage> {
    const before = versionBefore(query.cursor)
    const crewCall = await this.prisma.crewCall.findUnique({
      where: { jobId_department: key },
      select: {
        rosterVersions: {
          where: before === undefined ? {} : { version: { lt: before } },
          orderBy: { version: 'desc' },
          take: query.limit + 1,
        },
      },
    })
    if (!crewCall) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    return { ...key, ...historyPage(crewCall.rosterVersions, query.limit) }
  }

  /** The roster as it was at `version` (its Flex lines are not history: null). */
  async at(key: CrewCallKey, version: number): Promise<RosterView> {
    // The database must decide: the rebuild reads today's rows and the changes since in one snapshot.
    const [row] = await this.prisma.$queryRaw<
      (HistoryBounds & { assignments: HistoryAssignment[] | null })[]
    >`
      SELECT r.* FROM crew_calls cc, roster_at(cc.id, ${version}::int) r
       WHERE cc.job_id = ${key.jobId} AND cc.department = ${key.department}`
    if (!row) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    if (!row.assignments) throw versionOutOfHistory(version, row.current_version, rosterName(key))
    return {
      version,
      assignments: row.assignments.map((a) => ({ ...a, flexLineItemId: null, syncedAt: null })),
    }
  }

  async changesSince(key: CrewCallKey, since: number): Promise<RosterChangesView> {
    // The database must decide: the net changes come from the history and today's rows in one snapshot.
    const [row] = await this.prisma.$queryRaw<
      (HistoryBounds & {
        created: HistoryAssignment[] | null
        updated: HistoryAssignment[] | null
        deleted: { technicianId: string }[] | null
      })[]
    >`
      SELECT r.* FROM crew_calls cc, roster_changes_since(cc.id, ${since}::int) r
       WHERE cc.job_id = ${key.jobId} AND cc.department = ${key.department}`
    if (!row) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    if (!row.created || !row.updated || !row.deleted) {
      throw sinceOutOfHistory(since, row, rosterName(key), 'roster')
    }
    return {
      since,
      version: row.current_version,
      created: row.created,
      updated: row.updated,
      deleted: row.deleted,
    }
  }

  /** Deletes roster versions no longer kept, in batches; returns how many. */
  prune(maxBatches = 10): Promise<number> {
    const { keepVersions, keepDays } = this.options
    return pruneInBatches(
      async (batchSize) => {
        // The database must decide: which versions each set keeps depends on its current version.
        const [row] = await this.prisma.$queryRaw<{ pruned: number }[]>`
          SELECT prune_roster_history(${keepVersions}::int, ${keepDays}::int, ${batchSize}::int) AS pruned`
        return row?.pruned ?? 0
      },
      this.options.pruneBatch ?? 1000,
      maxBatches,
    )
  }
}
