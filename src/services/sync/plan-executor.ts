import type { FlexPort } from '../../flex/flex-client.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import { createLimiter } from '../../flex/limiter.ts'
import type { CrewCallView } from '../crew/crew-schemas.ts'
import { type CrewLineStore, RecordError } from './crew-line-store.ts'
import { addMayHaveLanded, type FlexAddDoubts } from './flex-add-doubts.ts'
import type { FlexCrew } from './flex-crew.ts'
import type { ReconcilePlan } from './reconcile-plan.ts'
import type { HeldSyncLease } from './sync-lease-service.ts'
import type { RunOutcome } from './sync-run-log.ts'
import type { SyncErrorView } from './sync-schemas.ts'

/** What a run did, before its status, retryAt and call count are known. */
export type Outcome = Omit<RunOutcome, 'status' | 'retryAt' | 'flexCalls'>

/** Stops a run from starting more Flex calls: Flex's rate limit, or a refused token. */
interface Halt {
  status: 'deferred' | 'failed'
  retryAt: Date | null
}

interface PlanExecutorDeps {
  store: CrewLineStore
  /** Records adds whose outcome is unknown: no add of their resource follows them until they can no longer land. */
  doubts: FlexAddDoubts
  /** Most Flex calls in flight during one sync. */
  concurrency: number
  /** How long to wait after a 429 that names no Retry-After (default 60 s). */
  rateLimitBackoffMs?: number
  /** Lists and classifies the element again (after an add whose answer named no line). */
  readCrew: (flex: FlexPort, crewCall: CrewCallView) => Promise<FlexCrew>
}

/**
 * Carries out a reconcile plan with bounded parallelism, recording each Flex effect in the database as
 * soon as Flex confirms it, never inside a transaction. One failed call does not stop the others; a
 * lost lease, a 429 or a refused token stops every call not yet started.
 */
export class PlanExecutor {
  constructor(private readonly deps: PlanExecutorDeps) {}

  async apply(
    flex: FlexPort,
    crewCall: CrewCallView,
    plan: ReconcilePlan,
    lease: HeldSyncLease,
    /** The crew call's adds in doubt (FlexAddDoubts.active): resource id -> until when none may follow. */
    inDoubt: ReadonlyMap<string, Date>,
  ): Promise<{ outcome: Outcome; halt: Halt | undefined }> {
    const outcome: Outcome = { ...emptyOutcome(), unchanged: plan.unchanged, ignored: plan.ignored }
    const { store } = this.deps
    let halt: Halt | undefined
    // No row may claim a line Flex does not have: forget vanished lines before anything else.
    await store.forgetVanished(crewCall.id, plan.forgetLine)
    await store.recordAdopted(crewCall.id, plan.adopt)
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
          halt ??= haltFor(error, this.deps.rateLimitBackoffMs)
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
      await store.recordRole(crewCall.id, lineItemId, businessRoleId)
      outcome.rolesSet.push(technicianId)
    }

    await Promise.all([
      ...plan.add.map((item) =>
        attempt(
          async () => {
            const until = inDoubt.get(item.flexResourceId)
            if (until) {
              throw new NotTried(
                `not added: an earlier add of resource ${item.flexResourceId} may still land in Flex until ${until.toISOString()}`,
              )
            }
            const lineItemId = await flexCall(() => this.addLine(flex, crewCall, item.flexResourceId, lease))
            await store.recordAdded(crewCall.id, item.technicianId, lineItemId)
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
    await store.markChecked(crewCall.id, plan.unchanged)
    return { outcome, halt }
  }

  /**
   * Adds the technician's line. An add is never blindly retried: after a failure (or an answer that
   * names no line) the element is listed again, and a line that appeared for this resource is the one
   * the lost answer would have named. Only when the listing shows none is the add tried once more; when
   * the listing fails too (or cannot be read), nobody knows whether the add landed, so the add fails
   * and the next sync (which lists first) adopts the line or adds it. Nor is it tried again once the
   * lease is lost: the sync that takes the lease over may be adding the same technician. A 429 was not
   * performed: it is neither re-listed nor retried, and defers the run. And a failure that may have
   * created the line (a timeout, a dropped connection, a 5xx but 503: addMayHaveLanded) is not retried
   * even when the listing shows no line, since the add may still be on its way in Flex: it is recorded
   * as a doubt (FlexAddDoubts), and no sync adds that resource again until the doubt has passed. The
   * doubt is written before each add goes out and cleared once its outcome is known, so a run that
   * takes over while the add is on its way holds back too.
   */
  private async addLine(
    flex: FlexPort,
    crewCall: CrewCallView,
    flexResourceId: string,
    lease: HeldSyncLease,
  ): Promise<string> {
    const findLine = async () =>
      (await this.deps.readCrew(flex, crewCall)).lines.find((line) => line.resourceId === flexResourceId)
        ?.lineItemId
    const { doubts } = this.deps
    const known = async (lineItemId: string) => {
      await doubts.clear(crewCall.id, flexResourceId)
      return lineItemId
    }
    for (let attempt = 1; ; attempt++) {
      await doubts.expect(crewCall.id, flexResourceId)
      let answered: string | undefined
      let error: unknown
      try {
        const { lineItemId } = await flex.addResource(crewCall.flexElementId, flexResourceId)
        answered = lineItemId ?? (await findLine())
        if (!answered) error = new Error('Flex accepted the add but named no line, and listing found none')
      } catch (failure) {
        error = failure
      }
      if (answered) return known(answered)
      if (error instanceof FlexError && error.kind === 'rate-limited') {
        await doubts.clear(crewCall.id, flexResourceId)
        throw error
      }
      const mayHaveLanded = addMayHaveLanded(error)
      const found = await findLine().catch(async () => {
        if (mayHaveLanded) await doubts.record(crewCall.id, flexResourceId)
        else await doubts.clear(crewCall.id, flexResourceId)
        throw error
      })
      if (found) return known(found)
      if (mayHaveLanded) {
        const until = await doubts.record(crewCall.id, flexResourceId)
        throw new Error(
          `${(error as Error).message}; the add may still land in Flex: not added again before ${until.toISOString()}`,
          { cause: error },
        )
      }
      await doubts.clear(crewCall.id, flexResourceId)
      if (attempt >= 2 || !(error instanceof FlexError && error.retryable)) throw error
      if (!lease.held) throw new Error(`${(error as Error).message}; not retried: the sync lease was lost`)
    }
  }
}

/** Whether a failure must stop the run's other calls: a 429 defers the rest, a refused token fails it. */
export function haltFor(error: unknown, rateLimitBackoffMs = 60_000): Halt | undefined {
  if (!(error instanceof FlexError)) return undefined
  if (error.kind === 'rate-limited') {
    return { status: 'deferred', retryAt: new Date(Date.now() + (error.retryAfterMs ?? rateLimitBackoffMs)) }
  }
  if (error.kind === 'unauthorized') return { status: 'failed', retryAt: null }
  return undefined
}

/** A planned Flex call the run did not make, and why (the lease was lost, a 429, a refused token). */
class NotTried extends Error {
  override name = 'NotTried'
}

export function emptyOutcome(): Outcome {
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

export function errorView(
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
