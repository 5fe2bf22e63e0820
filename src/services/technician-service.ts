import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction } from '../db/transaction.ts'
import { ConflictError, NotFoundError } from '../errors/domain-errors.ts'
import type { Technician } from '../generated/prisma/client.ts'
import type { TechnicianView } from '../schemas/crew.ts'

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

function toView(technician: Technician): TechnicianView {
  return {
    id: technician.id,
    name: technician.name,
    flexResourceId: technician.flexResourceId,
    createdAt: technician.createdAt.toISOString(),
    updatedAt: technician.updatedAt.toISOString(),
  }
}
