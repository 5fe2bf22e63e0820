import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction } from '../db/transaction.ts'
import { ConflictError, NotFoundError } from '../errors/domain-errors.ts'
import type { CrewCallView, Department } from '../schemas/crew.ts'
import { scheduleAfterChange } from './sync/sync-schedule.ts'

export interface CrewCallServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
  /** SYNC_DEBOUNCE_MS: a new crew call, or one moved to another element, is reconciled this long after. */
  syncDebounceMs: number
}

export interface CrewCallRow {
  id: string
  job_id: string
  department: Department
  flex_element_id: string
}

export const crewCallName = (jobId: string, department: string) => `${department} crew call of job ${jobId}`

/** Crew calls: one per (job, department), each tied to its crew-call element in Flex. */
export class CrewCallService {
  constructor(private readonly deps: CrewCallServiceDeps) {}

  async get(jobId: string, department: Department): Promise<CrewCallView> {
    const [row] = await this.deps.prisma.$queryRaw<CrewCallRow[]>`
      SELECT id, job_id, department, flex_element_id FROM crew_calls
       WHERE job_id = ${jobId} AND department = ${department}`
    if (!row) throw new NotFoundError(`no ${crewCallName(jobId, department)}`)
    return toCrewCallView(row)
  }

  async listForJob(jobId: string): Promise<CrewCallView[]> {
    const rows = await this.deps.prisma.$queryRaw<CrewCallRow[]>`
      SELECT id, job_id, department, flex_element_id FROM crew_calls WHERE job_id = ${jobId} ORDER BY department`
    return rows.map(toCrewCallView)
  }

  /**
   * Creates the crew call or points it at another Flex element. The element may change only while no
   * crew line has been recorded (those lines live in the old element), and an element serves one
   * crew call: two would remove each other's crew.
   */
  async upsert(
    jobId: string,
    department: Department,
    flexElementId: string,
  ): Promise<{ crewCall: CrewCallView; created: boolean }> {
    return this.deps.runInTransaction(async (tx) => {
      const [current] = await tx.$queryRaw<CrewCallRow[]>`
        SELECT id, job_id, department, flex_element_id FROM crew_calls
         WHERE job_id = ${jobId} AND department = ${department} FOR UPDATE`
      if (current?.flex_element_id === flexElementId)
        return { crewCall: toCrewCallView(current), created: false }
      const [owner] = await tx.$queryRaw<CrewCallRow[]>`
        SELECT id, job_id, department, flex_element_id FROM crew_calls WHERE flex_element_id = ${flexElementId}`
      if (owner) {
        throw new ConflictError(
          `Flex element ${flexElementId} already belongs to the ${crewCallName(owner.job_id, owner.department)}`,
        )
      }
      if (current) {
        const [synced] = await tx.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM crew_assignments
           WHERE crew_call_id = ${current.id}::uuid AND flex_line_item_id IS NOT NULL`
        if (synced && synced.n > 0) {
          throw new ConflictError(
            `the ${crewCallName(jobId, department)} has ${synced.n} crew line(s) in Flex element ` +
              `${current.flex_element_id}; empty its roster and sync before moving it to another element`,
          )
        }
      }
      // The reconcile is scheduled in the same statement as the change (SyncSchedule).
      const [row] = await tx.$queryRaw<CrewCallRow[]>`
        INSERT INTO crew_calls (job_id, department, flex_element_id, sync_due_at, sync_pending_since)
        VALUES (${jobId}, ${department}, ${flexElementId},
                now() + ${this.deps.syncDebounceMs}::int * interval '1 millisecond', now())
        ON CONFLICT (job_id, department) DO UPDATE SET flex_element_id = EXCLUDED.flex_element_id, updated_at = now(),
           ${scheduleAfterChange(this.deps.syncDebounceMs)}
        RETURNING id, job_id, department, flex_element_id`
      if (!row) throw new Error('crew call upsert returned no row')
      return { crewCall: toCrewCallView(row), created: !current }
    })
  }
}

export function toCrewCallView(row: CrewCallRow): CrewCallView {
  return { id: row.id, jobId: row.job_id, department: row.department, flexElementId: row.flex_element_id }
}
