import { setTimeout as delay } from 'node:timers/promises'
import { toDomainError } from '../../db/database-errors.ts'
import { inSpan } from '../../telemetry/tracing.ts'
import type { ClaimedCrewCall } from './sync-schedule.ts'
import type { SyncRunView } from './sync-schemas.ts'

interface SyncWorkerDeps {
  /** Takes a due crew call under its sync lease; undefined when none is due. */
  claimDue: () => Promise<ClaimedCrewCall | undefined>
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

/** The shortest sleep of an idle worker, however soon the next reconcile is due. */
const MIN_IDLE_MS = 20

/**
 * Runs the reconciles the schedule says are due, `concurrency` at a time, on this instance; every
 * instance may run one, and the sync lease decides who runs each crew call. A worker that finds
 * nothing sleeps until the next due time it knows of or pollMs, whichever is sooner, or until wake()
 * (a roster change on this instance, or another's, told by LISTEN/NOTIFY); polling is the safety net
 * for a lost notice. One that fails to reach the database backs off.
 */
export class SyncWorker {
  private running: Promise<void>[] = []
  private stopping = false
  private wakeUp = new AbortController()
  private wakeTimer: NodeJS.Timeout | undefined
  private wakeTimerAt = Number.POSITIVE_INFINITY

  constructor(private readonly deps: SyncWorkerDeps) {}

  start(): void {
    if (this.running.length > 0) return
    this.stopping = false
    this.running = Array.from({ length: this.deps.concurrency }, () => this.loop())
  }

  /**
   * Looks for due work `afterMs` from now (at once by default) instead of at the next poll: when a roster
   * change's reconcile falls due. Of several pending wakes the earliest counts; each ends an idle sleep.
   */
  wake(afterMs = 0): void {
    if (this.stopping) return
    if (afterMs <= 0) {
      this.wakeUp.abort()
      this.wakeUp = new AbortController()
      return
    }
    const at = Date.now() + afterMs
    if (this.wakeTimer && this.wakeTimerAt <= at) return
    clearTimeout(this.wakeTimer)
    this.wakeTimerAt = at
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined
      this.wakeTimerAt = Number.POSITIVE_INFINITY
      this.wake()
    }, afterMs)
    this.wakeTimer.unref()
  }

  /** Takes no more work (the shutdown's drain); the reconciles in flight go on, and stop() awaits them. */
  stopClaiming(): void {
    this.stopping = true
    clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    this.wakeTimerAt = Number.POSITIVE_INFINITY
    this.wakeUp.abort()
    this.wakeUp = new AbortController()
  }

  /**
   * Takes no more work and waits for the reconciles in flight to finish; each releases its lease when
   * it ends. One that outlasts the process keeps its lease until the lease lapses; then another
   * instance takes the crew call over.
   */
  async stop(): Promise<void> {
    this.stopClaiming()
    await Promise.all(this.running)
    this.running = []
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.stopping) {
      try {
        const claimedAt = new Date()
        const claimed = await this.deps.claimDue()
        failures = 0
        if (!claimed) {
          await this.idleUntilDue()
          continue
        }
        // The claim's span (a trace of its own, from the claim on) holds the run's; the run's line in
        // the log says how it ended, and an unsuccessful one stays due (its backoff) for a later claim.
        await inSpan(
          'sync claim',
          {
            kind: 'consumer',
            startTime: claimedAt,
            attributes: {
              'rostersync.crew_call.id': claimed.crewCall.id,
              'rostersync.sync.trigger': claimed.trigger,
            },
          },
          () => this.deps.runClaimed(claimed),
        )
      } catch (error) {
        failures++
        // A busy or restarting database is expected now and then: the crew call stays due.
        const transient = toDomainError(error)?.kind === 'service-unavailable'
        this.deps.log[transient ? 'warn' : 'error'](
          { err: error },
          'sync worker: could not take or run a due crew call; it stays due',
        )
        await this.idle(Math.min(30_000, this.deps.pollMs * 2 ** Math.min(failures, 6)))
      }
    }
  }

  /** Sleeps until the next reconcile it knows of falls due, or pollMs, whichever is sooner. */
  private async idleUntilDue(): Promise<void> {
    const signal = this.wakeUp.signal
    const dueInMs = await this.deps.nextDueInMs()
    // A wake while the query ran has already ended this sleep.
    if (signal.aborted) return
    // Something due now that was not claimable (another worker took it first) must not make a busy loop.
    const floor = Math.min(this.deps.pollMs, MIN_IDLE_MS)
    await this.idle(Math.max(floor, Math.min(this.deps.pollMs, dueInMs ?? Number.POSITIVE_INFINITY)))
  }

  private async idle(ms: number): Promise<void> {
    if (this.stopping) return
    await delay(ms, undefined, { signal: this.wakeUp.signal }).catch(() => {})
  }
}
