import { NotFoundError, ServiceUnavailableError, UpstreamError } from '../../errors/domain-errors.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import type { CrewCallView, Department } from '../../schemas/crew.ts'
import type { SyncPlanView, SyncRunsQuery, SyncRunView } from '../../schemas/sync.ts'
import type { CrewCallService } from '../crew-call-service.ts'
import type { FlexReconciler } from './flex-reconciler.ts'
import type { ReconcilePlan } from './reconcile-plan.ts'
import type { SyncLeases } from './sync-lease.ts'
import type { SyncRunLog } from './sync-run-log.ts'

export interface SyncServiceDeps {
  crewCalls: CrewCallService
  leases: SyncLeases
  runLog: SyncRunLog
  /** Undefined when Flex is not configured: syncs then answer 503, everything else works. */
  reconciler: FlexReconciler | undefined
  /** Told about every finished run (metrics). */
  onRunFinished?: (run: SyncRunView) => void
}

export interface SyncOptions {
  dryRun?: boolean
  /** Who or what asked for the sync, recorded with the run. */
  trigger: string
}

/** Syncs crew calls with Flex: one at a time per crew call (lease), each recorded as a run (G4, G6). */
export class SyncService {
  constructor(private readonly deps: SyncServiceDeps) {}

  async syncCrewCall(
    jobId: string,
    department: Department,
    options: SyncOptions,
  ): Promise<{ run: SyncRunView } | { plan: SyncPlanView }> {
    const reconciler = this.reconciler()
    const crewCall = await this.deps.crewCalls.get(jobId, department)
    if (options.dryRun) {
      const plan = await reconciler.plan(crewCall).catch((error: unknown) => {
        throw error instanceof FlexError
          ? new UpstreamError(`reading Flex failed: ${error.message}`, { cause: error })
          : error
      })
      return { plan: toPlanView(plan) }
    }
    return { run: await this.run(reconciler, crewCall, options.trigger) }
  }

  /** Syncs every crew call of the job, side by side (each under its own lease). */
  async syncJob(jobId: string, options: SyncOptions): Promise<SyncRunView[]> {
    const reconciler = this.reconciler()
    const crewCalls = await this.deps.crewCalls.listForJob(jobId)
    if (crewCalls.length === 0) throw new NotFoundError(`job ${jobId} has no crew calls`)
    return Promise.all(crewCalls.map((crewCall) => this.run(reconciler, crewCall, options.trigger)))
  }

  listRuns(query: SyncRunsQuery) {
    return this.deps.runLog.list(query)
  }

  private async run(
    reconciler: FlexReconciler,
    crewCall: CrewCallView,
    trigger: string,
  ): Promise<SyncRunView> {
    const lease = await this.deps.leases.acquire(crewCall.id)
    try {
      const run = await this.deps.runLog.start(crewCall.id, trigger)
      const outcome = await reconciler.reconcile(crewCall, lease)
      const finished = await this.deps.runLog.finish(run.id, outcome)
      this.deps.onRunFinished?.(finished)
      return finished
    } finally {
      await lease.release().catch(() => {})
    }
  }

  private reconciler(): FlexReconciler {
    if (!this.deps.reconciler) {
      throw new ServiceUnavailableError(
        'Flex is not configured: set FLEX_BASE_URL and FLEX_AUTH_TOKEN to sync crew calls',
      )
    }
    return this.deps.reconciler
  }
}

function toPlanView(plan: ReconcilePlan): SyncPlanView {
  return {
    add: plan.add.filter((a) => !a.repair).map((a) => a.technicianId),
    repair: plan.add.filter((a) => a.repair).map((a) => a.technicianId),
    adopt: plan.adopt.map((a) => a.technicianId),
    remove: plan.remove.map((r) => r.lineItemId),
    setRole: [
      ...plan.setRole.map((s) => s.technicianId),
      ...plan.add.filter((a) => a.businessRoleId !== undefined).map((a) => a.technicianId),
    ],
    unchanged: plan.unchanged,
    ignored: plan.ignored,
  }
}
