import type { PrismaClient } from '../../db/prisma.ts'
import { ServiceUnavailableError } from '../../errors/domain-errors.ts'
import {
  type CrewLine,
  candidateResourceIds,
  classifyRows,
  describeUnclassifiable,
} from '../../flex/crew-lines.ts'
import type { FlexPort } from '../../flex/flex-client.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import { createLimiter } from '../../flex/limiter.ts'
import type { CrewCallView, Department } from '../../schemas/crew.ts'
import type { SyncErrorView } from '../../schemas/sync.ts'
import { type FlexCallBudget, type Reservation, secondsUntil } from './flex-call-budget.ts'
import { planReconcile, type ReconcilePlan, type RosterEntry } from './reconcile-plan.ts'
import type { SyncLease } from './sync-lease.ts'
import type { RunOutcome } from './sync-run-log.ts'

/** Business role ids per department and tier (the last letter of a role code: R, E or T). */
export type BusinessRoles = Partial<Record<Department, Partial<Record<string, string>>>>

export interface FlexReconcilerDeps {
  prisma: PrismaClient
  flex: FlexPort
  /** Most Flex calls in flight during one sync. */
  concurrency: number
  businessRoles: BusinessRoles
  budget: FlexCallBudget
  /** How long to wait after a 429 that names no Retry-After (default 60 s). */
  rateLimitBackoffMs?: number
}

type Outcome = Omit<RunOutcome, 'status' | 'retryAt' | 'flexCalls'>

/** What Flex holds for a crew call, read and classified. */
interface CrewInFlex {
  lines: CrewLine[]
  /** Known technicians among the lines' resources: resource id -> technician id. */
  technicianByResource: Map<string, string>
  /** Lines of known technicians whose role the rows did not say readably. */
  rolesUnread: number
}

/** Stops a run from starting more Flex calls: Flex's rate limit, or a refused token. */
interface Halt {
  status: 'deferred' | 'failed'
  retryAt: Date | null
}

/**
 * Makes Flex hold exactly the crew call's roster, like a Kubernetes controller: level-triggered and
 * idempotent. Called under the crew call's sync lease. Reads Flex and the roster fresh, plans (pure),
 * reserves the plan's Flex calls from the shared budget, then applies the plan with bounded
 * parallelism, recording each Flex effect in the database as soon as Flex confirms it, never inside a
 * transaction. One failed call does not stop the others; a 429 or a refused token stops them all.
 */
export class FlexReconciler {
  constructor(private readonly deps: FlexReconcilerDeps) {}

  /** Reads Flex and the roster and plans; changes nothing. A failed or unreadable Flex read throws. */
  async plan(crewCall: CrewCallView): Promise<ReconcilePlan> {
    let calls = 0
    const flex = this.deps.flex.observed(() => calls++)
    const reservation = await this.deps.budget.reserve(1)
    if (!reservation.granted) {
      throw new ServiceUnavailableError(budgetRefusal(reservation, 1, this.deps.budget), {
        retryAfterSeconds: secondsUntil(reservation.retryAt),
      })
    }
    try {
      return (await this.planWith(flex, crewCall)).plan
    } finally {
      await this.deps.budget.settle(reservation.id, calls).catch(() => {})
    }
  }

  async reconcile(crewCall: CrewCallView, lease: SyncLease): Promise<RunOutcome> {
    let calls = 0
    const flex = this.deps.flex.observed(() => calls++)
    const ended = (status: RunOutcome['status'], outcome: Outcome, retryAt: Date | null = null) => ({
      status,
      ...outcome,
      retryAt,
      flexCalls: calls,
    })
    const listing = await this.deps.budget.reserve(1)
    if (!listing.granted) return this.deferredByBudget(listing, 1, ended)
    try {
      let planned: { plan: ReconcilePlan; notes: string[] }
      try {
        planned = await this.planWith(flex, crewCall)
      } catch (error) {
        // G4: a failed (or unreadable) read of Flex is never "nobody is there": nothing is changed.
        const halt = this.haltFor(error)
        return ended(
          halt?.status ?? 'failed',
          { ...emptyOutcome(), errors: [errorView('list', error)] },
          halt?.retryAt,
        )
      }
      const needed = plannedCalls(planned.plan)
      if (needed > 0) {
        const more = await this.deps.budget.reserve(needed, listing.id)
        if (!more.granted) return this.deferredByBudget(more, needed + 1, ended)
      }
      const { outcome, halt } = await this.apply(flex, crewCall, planned.plan, lease)
      outcome.notes.push(...planned.notes)
      if (halt) return ended(halt.status, outcome, halt.retryAt)
      return ended(outcome.errors.length > 0 ? 'partial' : 'succeeded', outcome)
    } catch (error) {
      // Only the database statements outside single Flex effects get here (e.g. the database is gone).
      return ended('failed', { ...emptyOutcome(), errors: [errorView('run', error)] })
    } finally {
      await this.deps.budget.settle(listing.id, calls).catch(() => {})
    }
  }

  /** A run the budget cannot cover ends deferred, having changed nothing (failed if it never can). */
  private deferredByBudget(
    reservation: Extract<Reservation, { granted: false }>,
    calls: number,
    ended: (status: RunOutcome['status'], outcome: Outcome, retryAt?: Date | null) => RunOutcome,
  ): RunOutcome {
    const message = budgetRefusal(reservation, calls, this.deps.budget)
    const errors: SyncErrorView[] = [{ operation: 'budget', message }]
    if (reservation.retryAt === null) return ended('failed', { ...emptyOutcome(), errors })
    return ended('deferred', { ...emptyOutcome(), errors }, reservation.retryAt)
  }

  private async planWith(
    flex: FlexPort,
    crewCall: CrewCallView,
  ): Promise<{ plan: ReconcilePlan; notes: string[] }> {
    const [crew, roster] = await Promise.all([this.readCrew(flex, crewCall), this.readRoster(crewCall.id)])
    const roles = this.deps.businessRoles[crewCall.department] ?? {}
    const plan = planReconcile({
      roster,
      lines: crew.lines,
      technicianByResource: crew.technicianByResource,
      businessRoleFor: (role) => (role ? roles[role.slice(-1)] : undefined),
    })
    const notes =
      crew.rolesUnread > 0
        ? [
            `Flex's rows gave no readable business role for ${crew.rolesUnread} technician line(s): ` +
              'each was compared with the role rostersync last set',
          ]
        : []
    return { plan, notes }
  }

  /**
   * The element's crew lines, classified against the known technicians. A row that might be a crew
   * line but cannot be read fails the read: nobody could then tell who is booked.
   */
  private async readCrew(flex: FlexPort, crewCall: CrewCallView): Promise<CrewInFlex> {
    const rows = await flex.listRows(crewCall.flexElementId)
    const technicianByResource = await this.knownTechnicians(candidateResourceIds(rows))
    const roleIds = new Set(Object.values(this.deps.businessRoles[crewCall.department] ?? {}))
    const classified = classifyRows(rows, {
      isKnownResource: (id) => technicianByResource.has(id),
      isKnownRole: (id) => roleIds.has(id),
    })
    if (classified.unclassifiable.length > 0) {
      throw new FlexError(
        `Flex list of element ${crewCall.flexElementId}: ${describeUnclassifiable(classified.unclassifiable)}`,
        {
          kind: 'bad-response',
          endpoint: 'list',
          attempts: 1,
        },
      )
    }
    return { lines: classified.lines, technicianByResource, rolesUnread: classified.rolesUnread }
  }

  private haltFor(error: unknown): Halt | undefined {
    if (!(error instanceof FlexError)) return undefined
    if (error.kind === 'rate-limited') {
      const waitMs = error.retryAfterMs ?? this.deps.rateLimitBackoffMs ?? 60_000
      return { status: 'deferred', retryAt: new Date(Date.now() + waitMs) }
    }
    if (error.kind === 'unauthorized') return { status: 'failed', retryAt: null }
    return undefined
  }

  private async apply(
    flex: FlexPort,
    crewCall: CrewCallView,
    plan: ReconcilePlan,
    lease: SyncLease,
  ): Promise<{ outcome: Outcome; halt: Halt | undefined }> {
    const outcome: Outcome = { ...emptyOutcome(), unchanged: plan.unchanged, ignored: plan.ignored }
    const { prisma } = this.deps
    let halt: Halt | undefined
    // No row may claim a line Flex does not have: forget vanished lines before anything else.
    await prisma.$executeRaw`
      UPDATE crew_assignments SET flex_line_item_id = NULL, flex_business_role_id = NULL
       WHERE crew_call_id = ${crewCall.id}::uuid AND technician_id = ANY (${plan.clear}::text[])`
    await this.recordAdopted(crewCall.id, plan.adopt)
    outcome.adopted.push(...plan.adopt.map((a) => a.technicianId))

    const limiter = createLimiter(this.deps.concurrency)
    /** Runs a Flex call when its turn comes, unless by then the run must start no more calls. */
    const flexCall = <T>(call: () => Promise<T>) =>
      limiter.run(() => {
        if (!lease.held) throw new NotTried('stopped: the sync lease was lost')
        if (halt?.status === 'deferred')
          throw new NotTried("not tried: Flex's rate limit deferred the rest of the run")
        if (halt) throw new NotTried('not tried: Flex refused the token')
        // Halts before this call's slot goes to the next one.
        return call().catch((error: unknown) => {
          halt ??= this.haltFor(error)
          throw error
        })
      })
    const attempt = async (task: () => Promise<void>, failure: Omit<SyncErrorView, 'message'>) => {
      try {
        await task()
      } catch (error) {
        outcome.errors.push(
          error instanceof NotTried
            ? { ...failure, message: error.message }
            : errorView(failure.operation, error, failure),
        )
      }
    }
    const setRole = async (technicianId: string, lineItemId: string, businessRoleId: string) => {
      await flexCall(() => flex.setBusinessRole(crewCall.flexElementId, lineItemId, businessRoleId))
      await prisma.$executeRaw`
        UPDATE crew_assignments SET flex_business_role_id = ${businessRoleId}, synced_at = now()
         WHERE crew_call_id = ${crewCall.id}::uuid AND flex_line_item_id = ${lineItemId}`
      outcome.rolesSet.push(technicianId)
    }

    await Promise.all([
      ...plan.add.map((item) =>
        attempt(
          async () => {
            const lineItemId = await flexCall(() => this.addLine(flex, crewCall, item.flexResourceId, lease))
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
            await flexCall(() => flex.removeLine(item.lineItemId))
            outcome.removed.push(item.lineItemId)
          },
          { operation: 'remove', technicianId: item.technicianId, lineItemId: item.lineItemId },
        ),
      ),
    ])
    await prisma.$executeRaw`
      UPDATE crew_assignments SET synced_at = now()
       WHERE crew_call_id = ${crewCall.id}::uuid AND technician_id = ANY (${plan.unchanged}::text[])`
    return { outcome, halt }
  }

  /**
   * Adds the technician's line. An add is never blindly retried: after a failure (or an answer that
   * names no line) the element is listed again, and a line that appeared for this resource is the one
   * the lost answer would have named. Only when the listing shows none is the add tried once more; when
   * the listing fails too (or cannot be read), nobody knows whether the add landed, so the add fails
   * and the next sync (which lists first) adopts the line or adds it. Nor is it tried again once the
   * lease is lost: the sync that takes the lease over may be adding the same technician. A 429 was not
   * performed: it is neither re-listed nor retried, and defers the run.
   */
  private async addLine(
    flex: FlexPort,
    crewCall: CrewCallView,
    flexResourceId: string,
    lease: SyncLease,
  ): Promise<string> {
    const findLine = async () =>
      (await this.readCrew(flex, crewCall)).lines.find((line) => line.resourceId === flexResourceId)
        ?.lineItemId
    for (let attempt = 1; ; attempt++) {
      try {
        const { lineItemId } = await flex.addResource(crewCall.flexElementId, flexResourceId)
        const found = lineItemId ?? (await findLine())
        if (found) return found
        throw new Error('Flex accepted the add but named no line, and listing found none')
      } catch (error) {
        if (error instanceof FlexError && error.kind === 'rate-limited') throw error
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

  private async knownTechnicians(resourceIds: string[]): Promise<Map<string, string>> {
    if (resourceIds.length === 0) return new Map()
    const rows = await this.deps.prisma.$queryRaw<{ id: string; flex_resource_id: string }[]>`
      SELECT id, flex_resource_id FROM technicians WHERE flex_resource_id = ANY (${resourceIds}::text[])`
    return new Map(rows.map((row) => [row.flex_resource_id, row.id]))
  }
}

/** Flex calls a plan needs beyond the listing: each add, role set and remove (retries not foreseen). */
export function plannedCalls(plan: ReconcilePlan): number {
  const roleAfterAdd = plan.add.filter((item) => item.businessRoleId !== undefined).length
  return plan.add.length + roleAfterAdd + plan.setRole.length + plan.remove.length
}

function budgetRefusal(
  reservation: Extract<Reservation, { granted: false }>,
  calls: number,
  budget: FlexCallBudget,
): string {
  const { perHour, perDay } = budget.limits
  const used = `${reservation.usedLastHour} of ${perHour} in the last hour, ${reservation.usedLastDay} of ${perDay} in the last day`
  if (reservation.retryAt === null)
    return `this sync needs ${calls} Flex calls, more than FLEX_CALLS_PER_HOUR or FLEX_CALLS_PER_DAY allow at all (${used})`
  return `the Flex call budget cannot cover the ${calls} calls this sync needs (${used} used): deferred until ${reservation.retryAt.toISOString()}`
}

class RecordError extends Error {
  override name = 'RecordError'
}

/** A planned Flex call the run did not make, and why (the lease was lost, a 429, a refused token). */
class NotTried extends Error {
  override name = 'NotTried'
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
    notes: [],
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
