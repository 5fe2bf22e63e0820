import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction } from '../db/transaction.ts'
import { ConflictError, NotFoundError } from '../errors/domain-errors.ts'
import type { IfMatch } from '../schemas/common.ts'
import { type CrewCallView, DEPARTMENT_NAME, type Department } from '../schemas/crew.ts'
import type { CrewCallsPage } from '../schemas/crew-lists.ts'
import type { PageQuery } from '../schemas/pagination.ts'
import { flexMayHoldLinesOf } from './flex-line-guard.ts'
import { checkIfMatch } from './if-match.ts'
import { decodeCursor, toPage } from './pagination.ts'
import {
  LAST_RUN,
  type SyncStatusRow,
  scheduleAfterChange,
  syncStatusColumns,
  toSyncStatus,
} from './sync/sync-schedule.ts'

export interface CrewCallServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
  /** SYNC_DEBOUNCE_MS: a new crew call, or one moved to another element, is reconciled this long after. */
  syncDebounceMs: number
  /** Whether Flex is configured (sync states read `not-configured` without it). */
  flexConfigured: boolean
}

export const crewCallName = (jobId: string, department: string) => `${department} crew call of job ${jobId}`

/** A roster as history errors name it, e.g. `the roster of the sound crew call of job J42`. */
export const rosterName = (key: { jobId: string; department: string }) =>
  `the roster of the ${crewCallName(key.jobId, key.department)}`

/** The columns a crew call's view needs. */
const VIEW = { id: true, jobId: true, department: true, flexElementId: true } as const

/** Crew calls: one per (job, department), each tied to its crew-call element in Flex. */
export class CrewCallService {
  constructor(private readonly deps: CrewCallServiceDeps) {}

  async get(jobId: string, department: Department): Promise<CrewCallView> {
    const crewCall = await this.deps.prisma.crewCall.findUnique({
      where: { jobId_department: { jobId, department } },
      select: VIEW,
    })
    if (!crewCall) throw new NotFoundError(`no ${crewCallName(jobId, department)}`)
    return toCrewCallView(crewCall)
  }

  async listForJob(jobId: string): Promise<CrewCallView[]> {
    const crewCalls = await this.deps.prisma.crewCall.findMany({
      where: { jobId },
      select: VIEW,
      orderBy: { department: 'asc' },
    })
    return crewCalls.map(toCrewCallView)
  }

  /**
   * A page of the job's crew calls, by department, each with its roster version and sync state (one
   * statement: one snapshot). A job is its crew calls: one without any is unknown (404), as for its sync.
   */
  async page(jobId: string, query: PageQuery): Promise<CrewCallsPage> {
    const [after] =
      query.cursor === undefined
        ? [null]
        : decodeCursor(query.cursor, 1, ([department]) => DEPARTMENT_NAME.test(String(department)))
    // Raw: the sync state is computed by the database (syncStatusColumns), as for a single crew call.
    const rows = await this.deps.prisma.$queryRaw<
      (SyncStatusRow & { id: string; department: Department; flex_element_id: string })[]
    >`
      SELECT cc.id, cc.department, cc.flex_element_id, ${syncStatusColumns(this.deps.flexConfigured)}
        FROM crew_calls cc ${LAST_RUN}
       WHERE cc.job_id = ${jobId} AND (${after}::text IS NULL OR cc.department > ${after}::text)
       ORDER BY cc.department
       LIMIT ${query.limit + 1}`
    if (rows.length === 0 && after === null) throw new NotFoundError(`job ${jobId} has no crew calls`)
    const { items, nextCursor } = toPage(rows, query.limit, (row) => [row.department])
    return {
      crewCalls: items.map((row) => ({
        id: row.id,
        jobId,
        department: row.department,
        flexElementId: row.flex_element_id,
        version: row.sync_roster_version,
        sync: toSyncStatus(row),
      })),
      nextCursor,
    }
  }

  /**
   * Deletes the crew call with its roster and sync history, unless Flex may still hold lines of it:
   * recorded ones (the roster must be emptied and synced first), ones its last runs made or could not
   * remove, or ones a running sync may be adding (409 with Retry-After). Under the crew call's row lock,
   * which roster writes and sync leases take too, so nothing slips in between the checks and the delete.
   */
  async delete(key: { jobId: string; department: Department }, ifMatch?: IfMatch): Promise<void> {
    const name = crewCallName(key.jobId, key.department)
    await this.deps.runInTransaction(async (tx) => {
      // A lock: the database must decide, and the sync lease is judged by its clock.
      const [crewCall] = await tx.$queryRaw<
        { id: string; version: number; flex_element_id: string; sync_lease_seconds: number | null }[]
      >`
        SELECT id, version, flex_element_id,
               CASE WHEN sync_lease_until > now()
                    THEN ceil(extract(epoch FROM sync_lease_until - now()))::int END AS sync_lease_seconds
          FROM crew_calls WHERE job_id = ${key.jobId} AND department = ${key.department} FOR UPDATE`
      if (!crewCall) throw new NotFoundError(`no ${name}`)
      checkIfMatch(ifMatch, crewCall.version)
      if (crewCall.sync_lease_seconds !== null) {
        throw new ConflictError(`a sync of the ${name} is running; retry when it has finished`, {
          retryAfterSeconds: Math.max(1, crewCall.sync_lease_seconds),
        })
      }
      const recorded = await tx.crewAssignment.count({
        where: { crewCallId: crewCall.id, flexLineItemId: { not: null } },
      })
      if (recorded > 0) {
        throw new ConflictError(
          `Flex still holds ${recorded} crew line(s) of the ${name} in element ${crewCall.flex_element_id}: ` +
            'empty its roster (PUT its assignments with none) and let it sync, then delete it',
        )
      }
      if (await flexMayHoldLinesOf(tx, crewCall.id)) {
        throw new ConflictError(
          `the last syncs of the ${name} left crew lines in Flex element ${crewCall.flex_element_id} that its ` +
            'roster no longer records, or could not tell: with its roster empty, sync it until a run succeeds, ' +
            'then delete it',
        )
      }
      await tx.crewCall.delete({ where: { id: crewCall.id } })
    })
  }

  /**
   * Creates the crew call or points it at another Flex element, if it is still at If-Match's version. The element may change only while no
   * crew line has been recorded (those lines live in the old element), and an element serves one
   * crew call: two would remove each other's crew.
   */
  async upsert(
    jobId: string,
    department: Department,
    flexElementId: string,
    ifMatch?: IfMatch,
  ): Promise<{ crewCall: CrewCallView; created: boolean; version: number }> {
    return this.deps.runInTransaction(async (tx) => {
      // The row lock serializes writes of one crew call (its roster writes take it too).
      const [current] = await tx.$queryRaw<{ id: string; flex_element_id: string; version: number }[]>`
        SELECT id, flex_element_id, version FROM crew_calls
         WHERE job_id = ${jobId} AND department = ${department} FOR UPDATE`
      // The crew call's version is its roster's (ETag); one that does not exist yet is at 0, as a set.
      checkIfMatch(ifMatch, current?.version ?? 0)
      if (current?.flex_element_id === flexElementId)
        return {
          crewCall: { id: current.id, jobId, department, flexElementId },
          created: false,
          version: current.version,
        }
      const owner = await tx.crewCall.findUnique({ where: { flexElementId }, select: VIEW })
      if (owner) {
        throw new ConflictError(
          `Flex element ${flexElementId} already belongs to the ${crewCallName(owner.jobId, owner.department)}`,
        )
      }
      if (current) {
        const synced = await tx.crewAssignment.count({
          where: { crewCallId: current.id, flexLineItemId: { not: null } },
        })
        if (synced > 0) {
          throw new ConflictError(
            `the ${crewCallName(jobId, department)} has ${synced} crew line(s) in Flex element ` +
              `${current.flex_element_id}; empty its roster and sync before moving it to another element`,
          )
        }
      }
      // One statement: the crew call and the reconcile it needs (SyncSchedule), which the typed
      // upsert cannot write (the schedule's columns are computed from the row's own values).
      const [row] = await tx.$queryRaw<{ id: string; version: number }[]>`
        INSERT INTO crew_calls (job_id, department, flex_element_id, sync_due_at, sync_pending_since)
        VALUES (${jobId}, ${department}, ${flexElementId},
                now() + ${this.deps.syncDebounceMs}::int * interval '1 millisecond', now())
        ON CONFLICT (job_id, department) DO UPDATE SET flex_element_id = EXCLUDED.flex_element_id, updated_at = now(),
           ${scheduleAfterChange(this.deps.syncDebounceMs)}
        RETURNING id, version`
      if (!row) throw new Error('crew call upsert returned no row')
      return {
        crewCall: { id: row.id, jobId, department, flexElementId },
        created: !current,
        version: row.version,
      }
    })
  }
}

function toCrewCallView(crewCall: {
  id: string
  jobId: string
  department: string
  flexElementId: string
}): CrewCallView {
  return { ...crewCall, department: crewCall.department as Department }
}
