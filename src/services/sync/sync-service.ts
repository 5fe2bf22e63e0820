import { FlexNotConfiguredError, NotFoundError, UpstreamError } from '../../errors/domain-errors.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import type { Department } from '../../schemas/departments.ts'
import { inSpan } from '../../telemetry/tracing.ts'
import type { CrewCallService } from '../crew/crew-call-service.ts'
import type { CrewCallView } from '../crew/crew-schemas.ts'
import type { FlexReconciler } from './flex-reconciler.ts'
import type { ReconcilePlan } from './reconcile-plan.ts'
import type { HeldSyncLease, SyncLeaseService } from './sync-lease-service.ts'
import type { SyncRunLog } from './sync-run-log.ts'
import type { ClaimedCrewCall, SyncSchedule } from './sync-schedule.ts'
import type { SyncPlanView, SyncRunsQuery, SyncRunView, SyncTrigger } from './sync-schemas.ts'

interface SyncServiceDeps {
  crewCalls: CrewCallService
  leases: SyncLeaseService
  runLog: SyncRunLog
  schedule: SyncSchedule
  /** Undefined when Flex is not configured: syncs then answer 501 flex-not-configured, everything else works. */
  reconciler: FlexReconciler | undefined
  /** Told about every finished run (metrics). */
  onRunFinished?: (run: SyncRunView) => void
  /** Each finished run writes one line here (info when it succeeded or was deferred, warn otherwise). */
  log: RunLogger
}

interface RunLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

interface SyncOptions {
  dryRun?: boolean
}

/**
 * Syncs crew calls with Flex: one at a time per crew call (lease), each recorded as a run (G4, G6),
 * each telling the schedule what it means for the next (SyncSchedule). Clients ask for manual runs;
 * SyncWorker runs the ones the schedule says are due.
 */
export class SyncService {
  constructor(private readonly deps: SyncServiceDeps) {}

  async syncCrewCall(
    jobId: string,
    department: Department,
    options: SyncOptions = {},
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
    return { run: await this.runManually(reconciler, crewCall) }
  }

  /** Syncs every crew call of the job, side by side (each under its own lease). */
  async syncJob(jobId: string): Promise<SyncRunView[]> {
    const reconciler = this.reconciler()
    const crewCalls = await this.deps.crewCalls.listForJob(jobId)
    if (crewCalls.length === 0) throw new NotFoundError(`job ${jobId} has no crew calls`)
    return Promise.all(crewCalls.map((crewCall) => this.runManually(reconciler, crewCall)))
  }

  /** Runs a crew call a worker claimed from the schedule, under the lease the claim took. */
  async runClaimed(claimed: ClaimedCrewCall): Promise<SyncRunView> {
    const lease = this.deps.leases.hold(claimed.crewCall.id, claimed.leaseToken)
    try {
      return await this.run(
        this.reconciler(),
        claimed.crewCall,
        claimed.trigger,
        claimed.rosterVersion,
        lease,
        claimed.changeTraceparent,
      )
    } finally {
      await lease.release().catch(() => {})
    }
  }

  /** Whether Flex is configured, so that syncs can run at all. */
  get canSync(): boolean {
    return this.deps.reconciler !== undefined
  }

  listRuns(query: SyncRunsQuery) {
    return this.deps.runLog.list(query)
  }

  /** A client's sync: waits (bounded) for the lease, and re-arms a crew call that gave up. */
  private async runManually(reconciler: FlexReconciler, crewCall: CrewCallView): Promise<SyncRunView> {
    const lease = await this.deps.leases.acquire(crewCall.id)
    try {
      await this.deps.schedule.rearm(crewCall.id)
      const rosterVersion = await this.deps.schedule.rosterVersion(crewCall.id)
      return await this.run(reconciler, crewCall, 'manual', rosterVersion, lease)
    } finally {
      await lease.release().catch(() => {})
    }
  }

  /**
   * One run, in a span of its own (a child of the request or of the worker's claim), linked to the trace
   * of the roster change that made it due when there is one: the run happens later, perhaps on another
   * instance, so it is not that trace's child.
   */
  private run(
    reconciler: FlexReconciler,
    crewCall: CrewCallView,
    trigger: SyncTrigger,
    rosterVersion: number,
    lease: HeldSyncLease,
    changeTraceparent: string | null = null,
  ): Promise<SyncRunView> {
    const attributes = {
      'rostersync.crew_call.id': crewCall.id,
      'rostersync.job.id': crewCall.jobId,
      'rostersync.department': crewCall.department,
      'rostersync.sync.trigger': trigger,
      'rostersync.roster.version': rosterVersion,
    }
    return inSpan('sync run', { attributes, links: [changeTraceparent] }, async (span) => {
      const run = await this.deps.runLog.start(crewCall, trigger)
      const outcome = await reconciler.reconcile(crewCall, lease)
      const finished = await this.deps.runLog.finish(run, outcome)
      // The schedule's statement gives the lease back too: the run's last round trip.
      await this.deps.schedule.afterRun(crewCall.id, rosterVersion, outcome, lease.token)
      lease.givenBack()
      const counts = runCounts(finished)
      span.setAttributes({
        'rostersync.sync.run_id': finished.id,
        'rostersync.sync.status': finished.status,
        ...Object.fromEntries(
          Object.entries(counts).map(([name, count]) => [`rostersync.sync.${name}`, count]),
        ),
      })
      const error = finished.errors[0]
      if (finished.status === 'failed' || finished.status === 'partial')
        span.fail(`sync-${finished.status}`, error ? `${error.operation}: ${error.message}` : finished.status)
      this.logRun(finished, counts)
      this.deps.onRunFinished?.(finished)
      return finished
    })
  }

  /** The run's one log line: which crew call, why, how it ended, what it changed, what it cost. */
  private logRun(run: SyncRunView, counts: ReturnType<typeof runCounts>): void {
    const ok = run.status === 'succeeded' || run.status === 'deferred'
    const error = run.errors[0]
    const changed = `${counts.added} added, ${counts.removed} removed, ${counts.repaired} repaired, ${counts.adopted} adopted, ${counts.roles_set} roles set`
    this.deps.log[ok ? 'info' : 'warn'](
      {
        syncRun: {
          id: run.id,
          crewCallId: run.crewCallId,
          jobId: run.jobId,
          department: run.department,
          trigger: run.trigger,
          status: run.status,
          ...counts,
          durationMs: run.durationMs,
          retryAt: run.retryAt,
          errors: run.errors,
        },
      },
      `sync ${run.status}: ${run.jobId}/${run.department} (${run.trigger}) ${changed}; ` +
        `${run.flexCalls} Flex calls in ${run.durationMs ?? '?'} ms` +
        (error ? `; ${error.operation}: ${error.message}` : '') +
        (run.retryAt ? `; retry at ${run.retryAt}` : ''),
    )
  }

  private reconciler(): FlexReconciler {
    if (!this.deps.reconciler) {
      throw new FlexNotConfiguredError('crew calls cannot be synced')
    }
    return this.deps.reconciler
  }
}

function runCounts(run: SyncRunView) {
  return {
    added: run.added.length,
    removed: run.removed.length,
    repaired: run.repaired.length,
    adopted: run.adopted.length,
    roles_set: run.rolesSet.length,
    unchanged: run.unchanged.length,
    ignored: run.ignored.length,
    errors: run.errors.length,
    flex_calls: run.flexCalls,
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
