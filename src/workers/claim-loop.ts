import { setTimeout as delay } from 'node:timers/promises'
import { toDomainError } from '../db/database-errors.ts'

/** What one slot took and when it began to take it (the claim's span starts there). */
export interface ClaimedWork<Work> {
  work: Work
  claimedAt: Date
  /** Aborts when stop() cuts the work in flight short (the shutdown's bound); the work then gives its claim back. */
  signal: AbortSignal
}

export interface ClaimLoopOptions<Work> {
  /**
   * Takes due work under its lease (FOR UPDATE SKIP LOCKED): as many pieces as it can, at most `max`,
   * in one go (one statement for every free slot). Fewer than `max` means nothing more is claimable now,
   * and the loop waits for a run to end, a wake or the poll before it asks again.
   */
  claim: (max: number) => Promise<readonly Work[]>
  /** Does it. A throw is logged; the work stays due (its lease lapses). */
  run: (claimed: ClaimedWork<Work>) => Promise<void>
  /** Slots: pieces of work this instance runs at once. */
  concurrency: number
  /** The longest an idle loop waits before it looks for due work again (the safety net for a lost wake). */
  pollMs: number
  /**
   * How long after a run ends the loop claims for the slots freed meanwhile (0, the default: at once).
   * A few ms let the runs that end together share one claim while other runs are still in flight.
   */
  regroupMs?: number
  /**
   * How long after now the next work it knows of falls due (undefined: none is scheduled). Without it
   * an idle loop sleeps pollMs, or until wake().
   */
  nextDueInMs?: () => Promise<number | undefined>
  /** The log line of a claim or run that threw, e.g. 'sync worker: could not take or run a due crew call; it stays due'. */
  failureMessage: string
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
}

/** The pause before asking again for work that is due now but could not be claimed (no busy loop). */
const MIN_IDLE_MS = 20
/** The longest back-off of a loop that cannot reach the database. */
const MAX_BACKOFF_MS = 30_000

/**
 * The claim loop both workers share (reconciles, webhook deliveries): up to `concurrency` pieces of
 * work run at once on this instance. One claimer takes due work for every free slot in one claim and
 * starts it without waiting for it; a run that ends frees its slot, and the claimer, if it waited for
 * one, claims again at once. When the claim took fewer than it asked for (nothing more is due) the
 * claimer sleeps, until the next due time it knows of or pollMs, whichever is sooner, or until wake():
 * an idle instance asks the database once per poll, however many slots it has. A claim that fails to
 * reach the database makes it back off exponentially (what runs already goes on). The work is
 * level-triggered from rows in the database, so any number of instances may run a loop each.
 *
 * Stopping has two steps, as the shutdown has: stopClaiming() when the drain begins (nothing more is
 * claimed; the work in flight goes on), then stop() when the app closes, which waits for the work in
 * flight and, past `cutShortAfterMs`, aborts its signal so the work gives its claim back at once.
 */
export class ClaimLoop<Work> {
  private claimer: Promise<void> | undefined
  private readonly inFlight = new Set<Promise<void>>()
  private claiming = false
  private wakeUp = new AbortController()
  private wakeTimer: NodeJS.Timeout | undefined
  private wakeTimerAt = Number.POSITIVE_INFINITY
  /** Aborted by stop() past its bound: the work in flight is cut short. */
  private cutShort = new AbortController()

  constructor(private readonly options: ClaimLoopOptions<Work>) {}

  /** Whether it may claim: started and not told to stop. */
  get isClaiming(): boolean {
    return this.claiming
  }

  start(): void {
    if (this.claimer) return
    this.claiming = true
    this.cutShort = new AbortController()
    this.claimer = this.claimLoop()
  }

  /**
   * Looks for due work `afterMs` from now (at once by default) instead of at the next poll. Of several
   * pending wakes the earliest counts; each ends an idle sleep. Does nothing once claiming stopped.
   */
  wake(afterMs = 0): void {
    if (!this.claiming) return
    if (afterMs <= 0) {
      this.endSleeps()
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

  /** Claims nothing more (the shutdown's drain begins); the work in flight goes on, and stop() awaits it. */
  stopClaiming(): void {
    this.claiming = false
    clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    this.wakeTimerAt = Number.POSITIVE_INFINITY
    this.endSleeps()
  }

  /**
   * Claims nothing more and waits for the work in flight to end. With `cutShortAfterMs`, work still
   * running that long from now has its signal aborted (it gives its claim back) and is awaited again.
   */
  async stop(options: { cutShortAfterMs?: number } = {}): Promise<void> {
    this.stopClaiming()
    const { cutShortAfterMs } = options
    const timer =
      cutShortAfterMs === undefined ? undefined : setTimeout(() => this.cutShort.abort(), cutShortAfterMs)
    try {
      await this.claimer
      await Promise.all([...this.inFlight])
    } finally {
      clearTimeout(timer)
    }
    this.claimer = undefined
  }

  private async claimLoop(): Promise<void> {
    let failures = 0
    while (this.claiming) {
      const free = this.options.concurrency - this.inFlight.size
      if (free <= 0) {
        // Every slot is busy: the first run to end frees one and ends this sleep (launch(): at once, or
        // regroupMs later so that the ends that follow it share its claim).
        await this.idle(this.options.pollMs)
        continue
      }
      const claimedAt = new Date()
      let works: readonly Work[]
      try {
        works = await this.options.claim(free)
      } catch (error) {
        this.logFailure(error)
        failures++
        await this.idle(Math.min(MAX_BACKOFF_MS, this.options.pollMs * 2 ** Math.min(failures, 6)))
        continue
      }
      failures = 0
      for (const work of works) this.launch(work, claimedAt)
      // A full batch: more may be due, so the loop asks again as soon as a slot is free.
      if (works.length < free) await this.idleUntilDue()
    }
  }

  /**
   * Starts a run in a free slot; its end frees the slot. A run that throws is logged; its work stays due.
   * Its end also ends an idle sleep: work the claim held back while this run was in flight (a webhook
   * endpoint at WEBHOOK_ENDPOINT_CONCURRENCY, the next event of one resource, a crew call whose run was
   * still going) may be claimable now, and waiting for the next poll would bound a backlog's pace by
   * the poll instead of by the work.
   */
  private launch(work: Work, claimedAt: Date): void {
    let started: Promise<void>
    try {
      started = this.options.run({ work, claimedAt, signal: this.cutShort.signal })
    } catch (error) {
      // A run that throws before its first await must not end the loop either.
      started = Promise.reject(error)
    }
    const running: Promise<void> = started
      .catch((error: unknown) => this.logFailure(error))
      .finally(() => {
        this.inFlight.delete(running)
        if (!this.claiming) return
        const regroupMs = this.options.regroupMs ?? 0
        // With nothing else in flight there is nothing to wait for.
        if (regroupMs > 0 && this.inFlight.size > 0) this.wake(regroupMs)
        else this.endSleeps()
      })
    this.inFlight.add(running)
  }

  private logFailure(error: unknown): void {
    // A busy or restarting database is expected now and then: the work stays due.
    const transient = toDomainError(error)?.kind === 'service-unavailable'
    this.options.log[transient ? 'warn' : 'error']({ err: error }, this.options.failureMessage)
  }

  /**
   * Sleeps until the next work it knows of falls due, or pollMs, whichever is sooner. When asking for
   * the next due time fails (the database restarting, a connection terminated), it sleeps pollMs: the
   * loop must outlive any database fault, as the claims do.
   */
  private async idleUntilDue(): Promise<void> {
    const { nextDueInMs, pollMs } = this.options
    if (!nextDueInMs) return this.idle(pollMs)
    const signal = this.wakeUp.signal
    let dueInMs: number | undefined
    try {
      dueInMs = await nextDueInMs()
    } catch (error) {
      this.logFailure(error)
      return this.idle(pollMs)
    }
    // A wake while the query ran has already ended this sleep.
    if (signal.aborted) return
    // Something due now that was not claimable (another instance took it first, a roster write holds its
    // row) must not make a busy loop: that waits MIN_IDLE_MS. Work due later is waited for to the ms.
    const untilDue = dueInMs === undefined ? pollMs : dueInMs > 0 ? dueInMs : MIN_IDLE_MS
    await this.idle(Math.min(pollMs, untilDue))
  }

  private async idle(ms: number): Promise<void> {
    if (!this.claiming) return
    await delay(ms, undefined, { signal: this.wakeUp.signal }).catch(() => {})
  }

  private endSleeps(): void {
    this.wakeUp.abort()
    this.wakeUp = new AbortController()
  }
}
