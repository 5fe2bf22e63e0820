import type { PrismaClient } from '../../db/prisma.ts'
import type { FlexClient } from '../../flex/flex-client.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import type { CrewLine } from '../../flex/flex-responses.ts'
import { createLimiter } from '../../flex/limiter.ts'
import type { CrewCallView, Department } from '../../schemas/crew.ts'
import type { SyncErrorView } from '../../schemas/sync.ts'
import { planReconcile, type ReconcilePlan, type RosterEntry } from './reconcile-plan.ts'
import type { SyncLease } from './sync-lease.ts'
import type { RunOutcome } from './sync-run-log.ts'

export type FlexPort = Pick<FlexClient, 'listCrewLines' | 'addResource' | 'setBusinessRole' | 'removeLine'>

/** Business role ids per department and tier (the last letter of a role code: R, E or T). */
export type BusinessRoles = Partial<Record<Department, Partial<Record<string, string>>>>

export interface FlexReconcilerDeps {
  prisma: PrismaClient
  flex: FlexPort
  /** Most Flex calls in flight during one sync. */
  concurrency: number
  businessRoles: BusinessRoles
}

type Outcome = Omit<RunOutcome, 'status'>

/**
 * Makes Flex hold exactly the crew call's roster, like a Kubernetes controller: level-triggered and
 * idempotent. Called under the crew call's sync lease. Reads Flex and the roster fresh, plans (pure),
 * then applies the plan with bounded parallelism, recording each Flex effect in the database as soon
 * as Flex confirms it, never inside a transaction. One failed call does not stop the others.
 */
export class FlexReconciler {
  constructor(private readonly deps: FlexReconcilerDeps) {}

  /** Reads Flex and the roster and plans; changes nothing. A failed Flex read throws. */
  async plan(crewCall: CrewCallView): Promise<ReconcilePlan> {
    const lines = await this.deps.flex.listCrewLines(crewCall.flexElementId)
    const [roster, technicianByResource] = await Promise.all([
      this.readRoster(crewCall.id),
      this.knownTechnicians(lines),
    ])
    const roles = this.deps.businessRoles[crewCall.department] ?? {}
    return planReconcile({
      roster,
      lines,
      technicianByResource,
      businessRoleFor: (role) => (role ? roles[role.slice(-1)] : undefined),
    })
  }

  async reconcile(crewCall: CrewCallView, lease: SyncLease): Promise<RunOutcome> {
    let plan: ReconcilePlan
    try {
      plan = await this.plan(crewCall)
    } catch (error) {
      // G4: a failed read of Flex is never "nobody is there": nothing is changed.
      return { status: 'failed', ...emptyOutcome(), errors: [errorView('list', error)] }
    }
    try {
      const outcome = await this.apply(crewCall, plan, lease)
      return { status: outcome.errors.length > 0 ? 'partial' : 'succeeded', ...outcome }
    } catch (error) {
      // Only the database statements outside single Flex effects get here (e.g. the database is gone).
      return { status: 'failed', ...emptyOutcome(), errors: [errorView('run', error)] }
    }
  }

  private async apply(crewCall: CrewCallView, plan: ReconcilePlan, lease: SyncLease): Promise<Outcome> {
    const outcome: Outcome = { ...emptyOutcome(), unchanged: plan.unchanged, ignored: plan.ignored }
    const { prisma, flex } = this.deps
    // No row may claim a line Flex does not have: forget vanished lines before anything else.
    await prisma.$executeRaw`
      UPDATE crew_assignments SET flex_line_item_id = NULL, flex_business_role_id = NULL
       WHERE crew_call_id = ${crewCall.id}::uuid AND technician_id = ANY (${plan.clear}::text[])`
    await this.recordAdopted(crewCall.id, plan.adopt)
    outcome.adopted.push(...plan.adopt.map((a) => a.technicianId))

    const limiter = createLimiter(this.deps.concurrency)
    const attempt = async (task: () => Promise<void>, failure: Omit<SyncErrorView, 'message'>) => {
      if (!lease.held) {
        outcome.errors.push({ ...failure, message: 'stopped: the sync lease was lost' })
        return
      }
      try {
        await task()
      } catch (error) {
        outcome.errors.push(errorView(failure.operation, error, failure))
      }
    }
    const setRole = async (technicianId: string, lineItemId: string, businessRoleId: string) => {
      await limiter.run(() => flex.setBusinessRole(crewCall.flexElementId, lineItemId, businessRoleId))
      await prisma.$executeRaw`
        UPDATE crew_assignments SET flex_business_role_id = ${businessRoleId}, synced_at = now()
         WHERE crew_call_id = ${crewCall.id}::uuid AND flex_line_item_id = ${lineItemId}`
      outcome.rolesSet.push(technicianId)
    }

    await Promise.all([
      ...plan.add.map((item) =>
        attempt(
          async () => {
            const lineItemId = await limiter.run(() =>
              this.addLine(crewCall.flexElementId, item.flexResourceId, lease),
            )
            await this.recordAdded(crewCall.id, item.technicianId, lineItemId)
            ;(item.repair ? outcome.repaired : outcome.added).push(item.technicianId)
            if (item.businessRoleId !== undefined) {
              await attempt(() => setRole(item.technicianId, lineItemId, item.businessRoleId as string), {
                operation: 'set-role',
                technicianId: item.technicianId,
                lineItemId,
              })
            }
          },
          { operation: 'add', technicianId: item.technicianId },
        ),
      ),
      ...plan.setRole.map((item) =>
        attempt(() => setRole(item.technicianId, item.lineItemId, item.businessRoleId), {
          operation: 'set-role',
          technicianId: item.technicianId,
          lineItemId: item.lineItemId,
        }),
      ),
      ...plan.remove.map((item) =>
        attempt(
          async () => {
            await limiter.run(() => flex.removeLine(item.lineItemId))
            outcome.removed.push(item.lineItemId)
          },
          { operation: 'remove', technicianId: item.technicianId, lineItemId: item.lineItemId },
        ),
      ),
    ])
    await prisma.$executeRaw`
      UPDATE crew_assignments SET synced_at = now()
       WHERE crew_call_id = ${crewCall.id}::uuid AND technician_id = ANY (${plan.unchanged}::text[])`
    return outcome
  }

  /**
   * Adds the technician's line. An add is never blindly retried: after a failure (or an answer that
   * names no line) the element is listed again, and a line that appeared for this resource is the one
   * the lost answer would have named. Only when the listing shows none is the add tried once more; when
   * the listing fails too, nobody knows whether the add landed, so the add fails and the next sync
   * (which lists first) adopts the line or adds it. Nor is it tried again once the lease is lost: the
   * sync that takes the lease over may be adding the same technician.
   */
  private async addLine(flexElementId: string, flexResourceId: string, lease: SyncLease): Promise<string> {
    const { flex } = this.deps
    const findLine = async () => firstLineOf(await flex.listCrewLines(flexElementId), flexResourceId)
    for (let attempt = 1; ; attempt++) {
      try {
        const { lineItemId } = await flex.addResource(flexElementId, flexResourceId)
        const found = lineItemId ?? (await findLine())
        if (found) return found
        throw new Error('Flex accepted the add but named no line, and listing found none')
      } catch (error) {
        const found = await findLine().catch(() => {
          throw error
        })
        if (found) return found
        if (attempt >= 2 || !(error instanceof FlexError && error.retryable)) throw error
        if (!lease.held) throw new Error(`${(error as Error).message}; not retried: the sync lease was lost`)
      }
    }
  }

  private async recordAdded(crewCallId: string, technicianId: string, lineItemId: string): Promise<void> {
    try {
      await this.deps.prisma.$executeRaw`
        UPDATE crew_assignments SET flex_line_item_id = ${lineItemId}, flex_business_role_id = NULL, synced_at = now()
         WHERE crew_call_id = ${crewCallId}::uuid AND technician_id = ${technicianId}`
    } catch (error) {
      // The line exists in Flex; the next sync finds it by resource and adopts it.
      throw new RecordError(`line ${lineItemId} was added in Flex but could not be recorded`, {
        cause: error,
      })
    }
  }

  private async recordAdopted(crewCallId: string, adopted: ReconcilePlan['adopt']): Promise<void> {
    if (adopted.length === 0) return
    await this.deps.prisma.$executeRaw`
      UPDATE crew_assignments ca
         SET flex_line_item_id = u.line_item_id, flex_business_role_id = u.business_role_id, synced_at = now()
        FROM unnest(${adopted.map((a) => a.technicianId)}::text[], ${adopted.map((a) => a.lineItemId)}::text[],
                    ${adopted.map((a) => a.businessRoleId)}::text[]) AS u(technician_id, line_item_id, business_role_id)
       WHERE ca.crew_call_id = ${crewCallId}::uuid AND ca.technician_id = u.technician_id`
  }

  private async readRoster(crewCallId: string): Promise<RosterEntry[]> {
    const rows = await this.deps.prisma.$queryRaw<
      {
        technician_id: string
        flex_resource_id: string
        role: string | null
        flex_line_item_id: string | null
        flex_business_role_id: string | null
      }[]
    >`
      SELECT ca.technician_id, t.flex_resource_id, ca.role, ca.flex_line_item_id, ca.flex_business_role_id
        FROM crew_assignments ca JOIN technicians t ON t.id = ca.technician_id
       WHERE ca.crew_call_id = ${crewCallId}::uuid ORDER BY ca.technician_id`
    return rows.map((row) => ({
      technicianId: row.technician_id,
      flexResourceId: row.flex_resource_id,
      role: row.role,
      flexLineItemId: row.flex_line_item_id,
      flexBusinessRoleId: row.flex_business_role_id,
    }))
  }

  private async knownTechnicians(lines: CrewLine[]): Promise<Map<string, string>> {
    const resourceIds = [...new Set(lines.map((line) => line.resourceId))]
    const rows = await this.deps.prisma.$queryRaw<{ id: string; flex_resource_id: string }[]>`
      SELECT id, flex_resource_id FROM technicians WHERE flex_resource_id = ANY (${resourceIds}::text[])`
    return new Map(rows.map((row) => [row.flex_resource_id, row.id]))
  }
}

class RecordError extends Error {
  override name = 'RecordError'
}

function firstLineOf(lines: CrewLine[], flexResourceId: string): string | undefined {
  return lines.find((line) => line.resourceId === flexResourceId)?.lineItemId
}

function emptyOutcome(): Outcome {
  return {
    added: [],
    removed: [],
    repaired: [],
    adopted: [],
    rolesSet: [],
    unchanged: [],
    ignored: [],
    errors: [],
  }
}

function errorView(
  operation: SyncErrorView['operation'],
  error: unknown,
  where: Partial<SyncErrorView> = {},
): SyncErrorView {
  const message = error instanceof Error ? error.message : String(error)
  return {
    ...where,
    operation: error instanceof RecordError ? 'record' : operation,
    message: message.slice(0, 500),
  }
}
