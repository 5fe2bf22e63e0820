import type { PrismaClient } from '../../db/prisma.ts'
import type { ReconcilePlan, RosterEntry } from './reconcile-plan.ts'

/** A Flex effect that happened but could not be recorded; the next sync adopts the line by resource. */
export class RecordError extends Error {
  override name = 'RecordError'
}

/**
 * What the database records of a crew call's lines in Flex (crew_assignments' flex columns), read and
 * written by a reconcile outside any transaction: each Flex effect is recorded as soon as Flex
 * confirms it. Set-based statements take the whole plan at once (unnest), in one round trip.
 */
export class CrewLineStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** The roster with each technician's resource and recorded line, in technician order. */
  async readRoster(crewCallId: string): Promise<RosterEntry[]> {
    const rows = await this.prisma.crewAssignment.findMany({
      where: { crewCallId },
      select: {
        technicianId: true,
        role: true,
        flexLineItemId: true,
        flexBusinessRoleId: true,
        technician: { select: { flexResourceId: true } },
      },
      orderBy: { technicianId: 'asc' },
    })
    return rows.map(({ technician, ...row }) => ({ ...row, flexResourceId: technician.flexResourceId }))
  }

  /** Known technicians among these resource ids: resource id -> technician id. */
  async knownTechnicians(resourceIds: string[]): Promise<Map<string, string>> {
    if (resourceIds.length === 0) return new Map()
    const rows = await this.prisma.technician.findMany({
      where: { flexResourceId: { in: resourceIds } },
      select: { id: true, flexResourceId: true },
    })
    return new Map(rows.map((row) => [row.flexResourceId, row.id]))
  }

  /** No row may claim a line Flex does not have: these technicians' lines vanished. */
  async forgetVanished(crewCallId: string, technicianIds: string[]): Promise<void> {
    if (technicianIds.length === 0) return
    await this.prisma.crewAssignment.updateMany({
      where: { crewCallId, technicianId: { in: technicianIds } },
      data: { flexLineItemId: null, flexBusinessRoleId: null },
    })
  }

  async recordAdopted(crewCallId: string, adopted: ReconcilePlan['adopt']): Promise<void> {
    if (adopted.length === 0) return
    // One statement for the whole set: a different value per row, which updateMany cannot write.
    await this.prisma.$executeRaw`
      UPDATE crew_assignments ca
         SET flex_line_item_id = u.line_item_id, flex_business_role_id = u.business_role_id, synced_at = now()
        FROM unnest(${adopted.map((a) => a.technicianId)}::text[], ${adopted.map((a) => a.lineItemId)}::text[],
                    ${adopted.map((a) => a.businessRoleId)}::text[]) AS u(technician_id, line_item_id, business_role_id)
       WHERE ca.crew_call_id = ${crewCallId}::uuid AND ca.technician_id = u.technician_id`
  }

  /** Records the line an add created; a technician taken off the roster meanwhile has no row to record it in. */
  async recordAdded(crewCallId: string, technicianId: string, lineItemId: string): Promise<void> {
    try {
      await this.prisma.crewAssignment.updateMany({
        where: { crewCallId, technicianId },
        data: { flexLineItemId: lineItemId, flexBusinessRoleId: null, syncedAt: new Date() },
      })
    } catch (error) {
      // The line exists in Flex; the next sync finds it by resource and adopts it.
      throw new RecordError(`line ${lineItemId} was added in Flex but could not be recorded`, {
        cause: error,
      })
    }
  }

  async recordRole(crewCallId: string, lineItemId: string, businessRoleId: string): Promise<void> {
    await this.prisma.crewAssignment.updateMany({
      where: { crewCallId, flexLineItemId: lineItemId },
      data: { flexBusinessRoleId: businessRoleId, syncedAt: new Date() },
    })
  }

  /** These technicians' lines were found right. */
  async markChecked(crewCallId: string, technicianIds: string[]): Promise<void> {
    if (technicianIds.length === 0) return
    await this.prisma.crewAssignment.updateMany({
      where: { crewCallId, technicianId: { in: technicianIds } },
      data: { syncedAt: new Date() },
    })
  }
}
