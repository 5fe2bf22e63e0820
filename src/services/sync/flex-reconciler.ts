import type { PrismaClient } from '../../db/prisma.ts'
import { ServiceUnavailableError } from '../../errors/domain-errors.ts'
import type { FlexPort } from '../../flex/flex-client.ts'
import type { Department } from '../../schemas/departments.ts'
import type { CrewCallView } from '../crew/crew-schemas.ts'
import { CrewLineStore } from './crew-line-store.ts'
import { FlexAddDoubts } from './flex-add-doubts.ts'
import { type FlexCallBudget, type Reservation, secondsUntil } from './flex-call-budget.ts'
import { type FlexCrew, readFlexCrew } from './flex-crew.ts'
import { emptyOutcome, errorView, haltFor, type Outcome, PlanExecutor } from './plan-executor.ts'
import { plannedCalls, planReconcile, type ReconcilePlan, type RosterEntry } from './reconcile-plan.ts'
import type { HeldSyncLease } from './sync-lease-service.ts'
import type { RunOutcome } from './sync-run-log.ts'
import type { SyncErrorView } from './sync-schemas.ts'

/** Business role ids per department and tier (the last letter of a role code: R, E or T). */
type BusinessRoles = Partial<Record<Department, Partial<Record<string, string>>>>

interface FlexReconcilerDeps {
  prisma: PrismaClient
  flex: FlexPort
  /** Most Flex calls in flight during one sync. */
  concurrency: number
  businessRoles: BusinessRoles
  budget: FlexCallBudget
  /** How long to wait after a 429 that names no Retry-After (default 60 s). */
  rateLimitBackoffMs?: number
  /** FLEX_ADD_DOUBT_MS: how long an add whose outcome is unknown may still land in Flex. */
  addDoubtMs: number
  /** FLEX_TIMEOUT_MS: the longest an add is waited for. */
  addTimeoutMs: number
}

/**
 * Makes Flex hold exactly the crew call's roster, like a Kubernetes controller: level-triggered and
 * idempotent. Called under the crew call's sync lease. Reads Flex and the roster fresh, plans (pure),
 * reserves the plan's Flex calls from the shared budget, then applies the plan with bounded
 * parallelism, recording each Flex effect in the database as soon as Flex confirms it, never inside a
 * transaction. One failed call does not stop the others; a 429 or a refused token stops them all.
 */
export class FlexReconciler {
  private readonly store: CrewLineStore
  private readonly doubts: FlexAddDoubts
  private readonly executor: PlanExecutor

  constructor(private readonly deps: FlexReconcilerDeps) {
    this.store = new CrewLineStore(deps.prisma)
    this.doubts = new FlexAddDoubts(deps.prisma, deps.addDoubtMs, deps.addTimeoutMs)
    this.executor = new PlanExecutor({
      store: this.store,
      doubts: this.doubts,
      concurrency: deps.concurrency,
      rateLimitBackoffMs: deps.rateLimitBackoffMs,
      readCrew: (flex, crewCall) => this.readCrew(flex, crewCall),
    })
  }

  /** Reads Flex and the roster and plans; changes nothing. A failed or unreadable Flex read throws. */
  async plan(crewCall: CrewCallView): Promise<ReconcilePlan> {
    let calls = 0
    const flex = this.deps.flex.observed(() => calls++)
    const reservation = await this.deps.budget.reserve(1)
    if (!reservation.granted) {
      throw new ServiceUnavailableError(this.deps.budget.describeRefusal(reservation, 1), {
        retryAfterSeconds: secondsUntil(reservation.retryAt),
      })
    }
    try {
      return (await this.planWith(flex, crewCall)).plan
    } finally {
      await this.deps.budget.settle(reservation.id, 1, calls).catch(() => {})
    }
  }

  async reconcile(crewCall: CrewCallView, lease: HeldSyncLease): Promise<RunOutcome> {
    let calls = 0
    const flex = this.deps.flex.observed(() => calls++)
    const ended = (status: RunOutcome['status'], outcome: Outcome, retryAt: Date | null = null) => ({
      status,
      ...outcome,
      retryAt,
      flexCalls: calls,
    })
    const failed = (error: unknown) =>
      ended('failed', { ...emptyOutcome(), errors: [errorView('run', error)] })
    // The database is gone: the run fails, recorded as such, and nothing else happens.
    const listing = await this.deps.budget.reserve(1).catch((error: unknown) => failed(error))
    if ('status' in listing) return listing
    if (!listing.granted) return this.deferredByBudget(listing, 1, ended)
    let reserved = 1
    try {
      // The adds in doubt are read while Flex is listed, not after: they are what stands between the
      // plan and its first add.
      const inDoubt = this.doubts.active(crewCall.id)
      inDoubt.catch(() => {})
      let planned: { plan: ReconcilePlan; notes: string[] }
      try {
        planned = await this.planWith(flex, crewCall)
      } catch (error) {
        // G4: a failed (or unreadable) read of Flex is never "nobody is there": nothing is changed.
        const halt = haltFor(error, this.deps.rateLimitBackoffMs)
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
        reserved += needed
      }
      const { outcome, halt } = await this.executor.apply(flex, crewCall, planned.plan, lease, await inDoubt)
      outcome.notes.push(...planned.notes)
      if (halt) return ended(halt.status, outcome, halt.retryAt)
      return ended(outcome.errors.length > 0 ? 'partial' : 'succeeded', outcome)
    } catch (error) {
      // Only the database statements outside single Flex effects get here (e.g. the database is gone).
      return failed(error)
    } finally {
      await this.deps.budget.settle(listing.id, reserved, calls).catch(() => {})
    }
  }

  /** A run the budget cannot cover ends deferred, having changed nothing (failed if it never can). */
  private deferredByBudget(
    reservation: Extract<Reservation, { granted: false }>,
    calls: number,
    ended: (status: RunOutcome['status'], outcome: Outcome, retryAt?: Date | null) => RunOutcome,
  ): RunOutcome {
    const message = this.deps.budget.describeRefusal(reservation, calls)
    const errors: SyncErrorView[] = [{ operation: 'budget', message }]
    if (reservation.retryAt === null) return ended('failed', { ...emptyOutcome(), errors })
    return ended('deferred', { ...emptyOutcome(), errors }, reservation.retryAt)
  }

  private async planWith(
    flex: FlexPort,
    crewCall: CrewCallView,
  ): Promise<{ plan: ReconcilePlan; notes: string[] }> {
    const [crew, roster] = await Promise.all([
      this.readCrew(flex, crewCall),
      this.store.readRoster(crewCall.id),
    ])
    const roles = this.deps.businessRoles[crewCall.department] ?? {}
    const plan = planReconcile({
      roster,
      lines: crew.lines,
      technicianByResource: crew.technicianByResource,
      businessRoleFor: (role) => (role ? roles[role.slice(-1)] : undefined),
    })
    const notes = unsetRoleNotes(roster, plan, crewCall.department, roles)
    if (crew.rolesUnread > 0)
      notes.push(
        `Flex's rows gave no readable business role for ${crew.rolesUnread} technician line(s): ` +
          'each was compared with the role rostersync last set',
      )
    return { plan, notes }
  }

  private readCrew(flex: FlexPort, crewCall: CrewCallView): Promise<FlexCrew> {
    const roles = Object.values(this.deps.businessRoles[crewCall.department] ?? {})
    const roleIds = new Set(roles.filter((id) => id !== undefined))
    return readFlexCrew(flex, crewCall, this.store, roleIds)
  }
}

/**
 * One note per rostered technician whose role code has no business role id configured
 * (FLEX_BUSINESS_ROLES) for its department and tier: the role is not set on a new line, and an
 * existing line's business role is left as it was. Each names the technician, the role code and why.
 */
function unsetRoleNotes(
  roster: RosterEntry[],
  plan: ReconcilePlan,
  department: Department,
  roles: Partial<Record<string, string>>,
): string[] {
  const adding = new Set(plan.add.map((item) => item.technicianId))
  const configuredTiers = Object.keys(roles).filter((tier) => roles[tier] !== undefined)
  const notes: string[] = []
  for (const { technicianId, role } of roster) {
    if (role === null || roles[role.slice(-1)] !== undefined) continue
    const tier = role.slice(-1)
    const why =
      configuredTiers.length === 0
        ? `FLEX_BUSINESS_ROLES has no business role ids for department ${department}`
        : `FLEX_BUSINESS_ROLES has no business role id for tier ${tier} of department ${department} ` +
          `(only ${configuredTiers.sort().join(', ')})`
    const effect = adding.has(technicianId)
      ? 'no business role set on the new line'
      : 'the business role on its line left as it was'
    notes.push(`technician ${technicianId}, role ${role}: ${effect}: ${why}`)
  }
  return notes
}
