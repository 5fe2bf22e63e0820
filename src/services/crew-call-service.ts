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

export const crewCallName = (jobId: string, department: string) => `${department} crew call of job ${jobId}`

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
      // The row lock serializes writes of one crew call (its roster writes take it too).
      const [current] = await tx.$queryRaw<{ id: string; flex_element_id: string }[]>`
        SELECT id, flex_element_id FROM crew_calls WHERE job_id = ${jobId} AND department = ${department} FOR UPDATE`
      if (current?.flex_element_id === flexElementId)
        return { crewCall: { id: current.id, jobId, department, flexElementId }, created: false }
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
      const [row] = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO crew_calls (job_id, department, flex_element_id, sync_due_at, sync_pending_since)
        VALUES (${jobId}, ${department}, ${flexElementId},
                now() + ${this.deps.syncDebounceMs}::int * interval '1 millisecond', now())
        ON CONFLICT (job_id, department) DO UPDATE SET flex_element_id = EXCLUDED.flex_element_id, updated_at = now(),
           ${scheduleAfterChange(this.deps.syncDebounceMs)}
        RETURNING id`
      if (!row) throw new Error('crew call upsert returned no row')
      return { crewCall: { id: row.id, jobId, department, flexElementId }, created: !current }
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
