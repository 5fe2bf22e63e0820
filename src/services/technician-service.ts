import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction } from '../db/transaction.ts'
import { ConflictError, NotFoundError } from '../errors/domain-errors.ts'
import type { TechnicianView } from '../schemas/crew.ts'

export interface TechnicianServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
}

interface TechnicianRow {
  id: string
  name: string
  flex_resource_id: string
  created_at: Date
  updated_at: Date
}

/** Technicians, keyed by the client's id; each maps to exactly one Flex resource (contact). */
export class TechnicianService {
  constructor(private readonly deps: TechnicianServiceDeps) {}

  async get(id: string): Promise<TechnicianView> {
    const [row] = await this.deps.prisma.$queryRaw<
      TechnicianRow[]
    >`SELECT * FROM technicians WHERE id = ${id}`
    if (!row) throw new NotFoundError(`no technician ${id}`)
    return toView(row)
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
      const [current] = await tx.$queryRaw<
        TechnicianRow[]
      >`SELECT * FROM technicians WHERE id = ${id} FOR UPDATE`
      if (current && current.name === fields.name && current.flex_resource_id === fields.flexResourceId) {
        return { technician: toView(current), created: false }
      }
      const [owner] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM technicians WHERE flex_resource_id = ${fields.flexResourceId} AND id <> ${id}`
      if (owner)
        throw new ConflictError(
          `flexResourceId ${fields.flexResourceId} already belongs to technician ${owner.id}`,
        )
      if (current && current.flex_resource_id !== fields.flexResourceId) {
        const [synced] = await tx.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM crew_assignments WHERE technician_id = ${id} AND flex_line_item_id IS NOT NULL`
        if (synced && synced.n > 0) {
          throw new ConflictError(
            `technician ${id} has ${synced.n} crew line(s) in Flex under resource ${current.flex_resource_id}; ` +
              'take them off their rosters and sync before changing flexResourceId',
          )
        }
      }
      const [row] = await tx.$queryRaw<TechnicianRow[]>`
        INSERT INTO technicians (id, name, flex_resource_id) VALUES (${id}, ${fields.name}, ${fields.flexResourceId})
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, flex_resource_id = EXCLUDED.flex_resource_id,
               updated_at = now()
        RETURNING *`
      if (!row) throw new Error('technician upsert returned no row')
      return { technician: toView(row), created: !current }
    })
  }
}

function toView(row: TechnicianRow): TechnicianView {
  return {
    id: row.id,
    name: row.name,
    flexResourceId: row.flex_resource_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}
