import type { PrismaClient } from '../db/prisma.ts'
import {
  HistoryGoneError,
  NotFoundError,
  ValidationError,
  VersionPrunedError,
} from '../errors/domain-errors.ts'
import type { Department, RosterView } from '../schemas/crew.ts'
import type { PageQuery } from '../schemas/pagination.ts'
import type { RosterChangesView, RosterHistoryPage } from '../schemas/roster-history.ts'
import type { CalendarHistoryOptions } from './calendar-history-service.ts'
import { crewCallName } from './crew-call-service.ts'
import { historyPage, pruneInBatches, versionBefore } from './history-versions.ts'

interface CrewCallKey {
  jobId: string
  department: Department
}

interface Bounds {
  current_version: number
  floor_version: number
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
    private readonly options: CalendarHistoryOptions,
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
    const [row] = await this.prisma.$queryRaw<(Bounds & { assignments: HistoryAssignment[] | null })[]>`
      SELECT r.* FROM crew_calls cc, roster_at(cc.id, ${version}::int) r
       WHERE cc.job_id = ${key.jobId} AND cc.department = ${key.department}`
    if (!row) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    if (!row.assignments) {
      if (version > row.current_version)
        throw new NotFoundError(`the roster is at version ${row.current_version}`)
      throw new VersionPrunedError(`version ${version} of this roster is no longer kept`)
    }
    return {
      version,
      assignments: row.assignments.map((a) => ({ ...a, flexLineItemId: null, syncedAt: null })),
    }
  }

  async changesSince(key: CrewCallKey, since: number): Promise<RosterChangesView> {
    // The database must decide: the net changes come from the history and today's rows in one snapshot.
    const [row] = await this.prisma.$queryRaw<
      (Bounds & {
        created: HistoryAssignment[] | null
        updated: HistoryAssignment[] | null
        deleted: { technicianId: string }[] | null
      })[]
    >`
      SELECT r.* FROM crew_calls cc, roster_changes_since(cc.id, ${since}::int) r
       WHERE cc.job_id = ${key.jobId} AND cc.department = ${key.department}`
    if (!row) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    if (!row.created || !row.updated || !row.deleted) {
      if (since < row.floor_version) {
        throw new HistoryGoneError(
          `the history of this roster before version ${row.floor_version} is no longer kept; read the whole roster`,
        )
      }
      throw new ValidationError([
        {
          in: 'query',
          pointer: '/since',
          detail: `the roster is at version ${row.current_version}; since cannot be newer`,
        },
      ])
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
