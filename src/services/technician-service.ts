import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction } from '../db/transaction.ts'
import { ConflictError, NotFoundError } from '../errors/domain-errors.ts'
import type { Technician } from '../generated/prisma/client.ts'
import { DEPARTMENT_NAME, type Department, type TechnicianView } from '../schemas/crew.ts'
import type { TechnicianAssignmentsPage, TechniciansPage, TechniciansQuery } from '../schemas/crew-lists.ts'
import type { PageQuery } from '../schemas/pagination.ts'
import { crewCallName } from './crew-call-service.ts'
import { crewCallsThatMayHoldLinesOf, runningSyncOfChangedRoster } from './flex-line-guard.ts'
import { decodeCursor, toPage } from './pagination.ts'

/** How many crew calls a refused delete names. */
const NAMED_CREW_CALLS = 10

export interface TechnicianServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
}

/** Technicians, keyed by the client's id; each maps to exactly one Flex resource (contact). */
export class TechnicianService {
  constructor(private readonly deps: TechnicianServiceDeps) {}

  async get(id: string): Promise<TechnicianView> {
    const technician = await this.deps.prisma.technician.findUnique({ where: { id } })
    if (!technician) throw new NotFoundError(`no technician ${id}`)
    return toView(technician)
  }

  /** A page of technicians by id, those whose id or name contains `q` (ignoring case) when given. */
  async page(query: TechniciansQuery): Promise<TechniciansPage> {
    const [after] = query.cursor === undefined ? [] : decodeCursor(query.cursor, 1)
    // `contains` is an ILIKE on '%' || q || '%' that Prisma does not escape: q's own %, _ and \ are.
    const pattern = query.q === undefined ? undefined : escapeLike(query.q)
    const matching =
      pattern === undefined
        ? []
        : [
            { id: { contains: pattern, mode: 'insensitive' as const } },
            { name: { contains: pattern, mode: 'insensitive' as const } },
          ]
    const rows = await this.deps.prisma.technician.findMany({
      where: {
        ...(matching.length > 0 && { OR: matching }),
        ...(after !== undefined && { id: { gt: after } }),
      },
      orderBy: { id: 'asc' },
      take: query.limit + 1,
    })
    const { items, nextCursor } = toPage(rows, query.limit, (row) => [row.id])
    return { technicians: items.map(toView), nextCursor }
  }

  /** A page of the crew calls the technician is on, by job and department; 404 for an unknown technician. */
  async assignments(technicianId: string, query: PageQuery): Promise<TechnicianAssignmentsPage> {
    const after =
      query.cursor === undefined
        ? undefined
        : decodeCursor(query.cursor, 2, ([, department]) => DEPARTMENT_NAME.test(String(department)))
    const technician = await this.deps.prisma.technician.findUnique({
      where: { id: technicianId },
      select: {
        assignments: {
          where: after && {
            crewCall: {
              OR: [{ jobId: { gt: after[0] } }, { jobId: after[0], department: { gt: after[1] } }],
            },
          },
          orderBy: [{ crewCall: { jobId: 'asc' } }, { crewCall: { department: 'asc' } }],
          take: query.limit + 1,
          select: {
            role: true,
            flexLineItemId: true,
            syncedAt: true,
            crewCall: { select: { id: true, jobId: true, department: true, version: true } },
          },
        },
      },
    })
    if (!technician) throw new NotFoundError(`no technician ${technicianId}`)
    const { items, nextCursor } = toPage(technician.assignments, query.limit, ({ crewCall }) => [
      crewCall.jobId,
      crewCall.department,
    ])
    return {
      assignments: items.map(({ crewCall, ...assignment }) => ({
        crewCallId: crewCall.id,
        jobId: crewCall.jobId,
        department: crewCall.department as Department,
        role: assignment.role,
        flexLineItemId: assignment.flexLineItemId,
        syncedAt: assignment.syncedAt?.toISOString() ?? null,
        rosterVersion: crewCall.version,
      })),
      nextCursor,
    }
  }

  /**
   * Deletes a technician who is on no roster and of whom Flex holds no line. One still on rosters is
   * refused (409 naming them), lines or not: taking them off is a roster change their crew calls sync
   * (and their clients see, with If-Match), so it is the client's to make, roster by roster. So is one
   * whose removal has not reached Flex yet (their resource would become an unknown contact the sync
   * leaves alone), or while a sync that may be adding their line runs (409 with Retry-After). The
   * technician's row lock keeps them off every roster until the delete commits (adding them takes a
   * key-share lock on it).
   */
  async delete(id: string): Promise<void> {
    await this.deps.runInTransaction(async (tx) => {
      // A lock: the database must decide.
      const [locked] = await tx.$queryRaw<
        { id: string }[]
      >`SELECT id FROM technicians WHERE id = ${id} FOR UPDATE`
      if (!locked) throw new NotFoundError(`no technician ${id}`)
      const rosters = await tx.crewAssignment.findMany({
        where: { technicianId: id },
        select: { flexLineItemId: true, crewCall: { select: { jobId: true, department: true } } },
        orderBy: [{ crewCall: { jobId: 'asc' } }, { crewCall: { department: 'asc' } }],
        take: NAMED_CREW_CALLS + 1,
      })
      if (rosters.length > 0) {
        const synced = rosters.filter((roster) => roster.flexLineItemId !== null).length
        throw new ConflictError(
          `technician ${id} is on the roster of ${nameCrewCalls(rosters.map((r) => r.crewCall))}` +
            (synced > 0 ? ', and Flex holds their crew line in some' : '') +
            `: take them off (DELETE …/crew-calls/{department}/assignments/${id}) and let those crew calls ` +
            'sync, then delete them',
        )
      }
      const unsynced = await crewCallsThatMayHoldLinesOf(tx, id, NAMED_CREW_CALLS + 1)
      if (unsynced.length > 0) {
        throw new ConflictError(
          `Flex may still hold crew lines of technician ${id} in the ${nameCrewCalls(unsynced)}: their ` +
            'removal has not reached Flex yet; let those crew calls sync until a run succeeds, then delete them',
        )
      }
      const running = await runningSyncOfChangedRoster(tx)
      if (running !== null) {
        throw new ConflictError(
          `a running sync may be adding a crew line of technician ${id}; retry when it has finished`,
          { retryAfterSeconds: Math.max(1, running) },
        )
      }
      await tx.technician.delete({ where: { id } })
    })
  }

  /**
   * Creates or updates a technician. A Flex resource belongs to one technician, and a technician whose
   * crew lines are in Flex keeps their resource: changing it would orphan those lines.
   */
  async upsert(
    id: string,
    fields: { name: string; flexResourceId: string },
  ): Promise<{ technician: TechnicianView; created: boolean }> {
    return this.deps.runInTransaction(async (tx) => {
      // The row lock serializes writes of one technician between the checks and the write.
      const [locked] = await tx.$queryRaw<
        { id: string }[]
      >`SELECT id FROM technicians WHERE id = ${id} FOR UPDATE`
      const current = locked ? await tx.technician.findUnique({ where: { id } }) : null
      if (current && current.name === fields.name && current.flexResourceId === fields.flexResourceId) {
        return { technician: toView(current), created: false }
      }
      const owner = await tx.technician.findFirst({
        where: { flexResourceId: fields.flexResourceId, id: { not: id } },
        select: { id: true },
      })
      if (owner)
        throw new ConflictError(
          `flexResourceId ${fields.flexResourceId} already belongs to technician ${owner.id}`,
        )
      if (current && current.flexResourceId !== fields.flexResourceId) {
        const synced = await tx.crewAssignment.count({
          where: { technicianId: id, flexLineItemId: { not: null } },
        })
        if (synced > 0) {
          throw new ConflictError(
            `technician ${id} has ${synced} crew line(s) in Flex under resource ${current.flexResourceId}; ` +
              'take them off their rosters and sync before changing flexResourceId',
          )
        }
      }
      const technician = await tx.technician.upsert({
        where: { id },
        create: { id, ...fields },
        update: { ...fields, updatedAt: new Date() },
      })
      return { technician: toView(technician), created: !current }
    })
  }
}

/** Text that matches itself in a LIKE pattern (PostgreSQL's default escape character is \\). */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`)

/** `sound crew call of job j1, …` for the first NAMED_CREW_CALLS, and how many more. */
function nameCrewCalls(crewCalls: { jobId: string; department: string }[]): string {
  const named = crewCalls.slice(0, NAMED_CREW_CALLS).map((c) => crewCallName(c.jobId, c.department))
  return crewCalls.length > NAMED_CREW_CALLS ? `${named.join(', ')} and more` : named.join(', ')
}

function toView(technician: Technician): TechnicianView {
  return {
    id: technician.id,
    name: technician.name,
    flexResourceId: technician.flexResourceId,
    createdAt: technician.createdAt.toISOString(),
    updatedAt: technician.updatedAt.toISOString(),
  }
}
