import { inSpan } from '../../telemetry/tracing.ts'
import { ClaimLoop } from '../../workers/claim-loop.ts'
import type { ClaimedCrewCall } from './sync-schedule.ts'
import type { SyncRunView } from './sync-schemas.ts'

interface SyncWorkerDeps {
  /** Takes up to `max` due crew calls, each under its sync lease, in one go; fewer when no more are due. */
  claimDue: (max: number) => Promise<readonly ClaimedCrewCall[]>
  runClaimed: (claimed: ClaimedCrewCall) => Promise<SyncRunView>
  /** Reconciles at once, at most. */
  concurrency: number
  /** How long after now the next reconcile it knows of falls due; undefined when none is scheduled. */
  nextDueInMs: () => Promise<number | undefined>
  /** The longest an idle worker waits before looking for due crew calls again. */
  pollMs: number
  log: {
    warn(obj: object, msg: string): void
    error(obj: object, msg: string): void
  }
}

/**
 * Runs the reconciles the schedule says are due, `concurrency` at a time, on this instance; every
 * instance may run one, and the sync lease decides who runs each crew call. A worker that finds
 * nothing sleeps until the next due time it knows of or pollMs, whichever is sooner, or until wake()
 * (a roster change on this instance, or another's, told by LISTEN/NOTIFY); polling is the safety net
 * for a lost notice. One that fails to reach the database backs off. The loop is the shared
 * ClaimLoop (src/workers/claim-loop.ts).
 */
export class SyncWorker {
  private readonly loop: ClaimLoop<ClaimedCrewCall>

  constructor(deps: SyncWorkerDeps) {
    this.loop = new ClaimLoop<ClaimedCrewCall>({
      claim: deps.claimDue,
      // The claim's span (a trace of its own, from the claim on) holds the run's; the run's line in
      // the log says how it ended, and an unsuccessful one stays due (its backoff) for a later claim.
      run: async ({ work, claimedAt }) => {
        await inSpan(
          'sync claim',
          {
            kind: 'consumer',
            startTime: claimedAt,
            attributes: {
              'rostersync.crew_call.id': work.crewCall.id,
              'rostersync.sync.trigger': work.trigger,
            },
          },
          () => deps.runClaimed(work),
        )
      },
      concurrency: deps.concurrency,
      nextDueInMs: deps.nextDueInMs,
      pollMs: deps.pollMs,
      failureMessage: 'sync worker: could not take or run a due crew call; it stays due',
      log: deps.log,
    })
  }

  start(): void {
    this.loop.start()
  }

  /**
   * Looks for due work `afterMs` from now (at once by default) instead of at the next poll: when a roster
   * change's reconcile falls due. Of several pending wakes the earliest counts; each ends an idle sleep.
   */
  wake(afterMs = 0): void {
    this.loop.wake(afterMs)
  }

  /** Takes no more work (the shutdown's drain); the reconciles in flight go on, and stop() awaits them. */
  stopClaiming(): void {
    this.loop.stopClaiming()
  }

  /**
   * Takes no more work and waits for the reconciles in flight to finish; each releases its lease when
   * it ends. One that outlasts the process keeps its lease until the lease lapses; then another
   * instance takes the crew call over.
   */
  async stop(): Promise<void> {
    await this.loop.stop()
  }
}
