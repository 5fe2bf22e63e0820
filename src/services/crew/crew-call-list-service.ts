import { Prisma, type PrismaClient } from '../../db/prisma.ts'
import type { Department } from '../../schemas/crew.ts'
import type { AllCrewCallsPage, AllCrewCallsQuery } from '../../schemas/crew-call-list.ts'
import { decodeCursor, toPage } from '../pagination.ts'
import { LAST_RUN, type SyncStatusRow, syncStatusColumns, toSyncStatus } from '../sync/sync-schedule.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

type Row = SyncStatusRow & {
  id: string
  job_id: string
  department: Department
  flex_element_id: string
  activity_at: Date
}

/**
 * Every crew call across jobs, for operators: newest activity first (the start of the last sync run,
 * or the creation of one never synced), optionally in one sync state. Keyset paged on (activity, id):
 * a crew call that runs again between two pages moves to the front and is not repeated.
 */
export class CrewCallListService {
  constructor(
    private readonly prisma: PrismaClient,
    /** Whether Flex is configured (sync states read `not-configured` without it). */
    private readonly flexConfigured: boolean,
  ) {}

  async page(query: AllCrewCallsQuery): Promise<AllCrewCallsPage> {
    const after =
      query.cursor === undefined
        ? null
        : decodeCursor(
            query.cursor,
            2,
            ([at, id]) => !Number.isNaN(Date.parse(at ?? '')) && UUID.test(id ?? ''),
          )
    const state = query.state ?? null
    const keyset =
      after === null
        ? Prisma.sql`true`
        : Prisma.sql`(activity_at, id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`
    // Raw: the sync state is computed by the database (syncStatusColumns) and filtered and ordered on.
    const rows = await this.prisma.$queryRaw<Row[]>`
      SELECT * FROM (
        SELECT cc.id, cc.job_id, cc.department, cc.flex_element_id,
               coalesce(last.started_at, cc.created_at) AS activity_at, ${syncStatusColumns(this.flexConfigured)}
          FROM crew_calls cc ${LAST_RUN}) listed
       WHERE (${state}::text IS NULL OR sync_state = ${state}::text) AND ${keyset}
       ORDER BY activity_at DESC, id DESC
       LIMIT ${query.limit + 1}`
    const { items, nextCursor } = toPage(rows, query.limit, (row) => [row.activity_at.toISOString(), row.id])
    return {
      crewCalls: items.map((row) => ({
        id: row.id,
        jobId: row.job_id,
        department: row.department,
        flexElementId: row.flex_element_id,
        version: row.sync_roster_version,
        sync: toSyncStatus(row),
      })),
      nextCursor,
    }
  }
}
