import type { TransactionParticipant, Tx } from '../../db/transaction.ts'
import { IdempotencyKeyInUseError } from '../../errors/domain-errors.ts'
import type { IdempotencyKeyStore, KeyHold, StoredResponse } from './key-store.ts'

/** Rolls back a transaction whose response is not kept (a 5xx, a transient 409): the key is released. */
export class ResponseNotKeptError extends Error {
  override name = 'ResponseNotKeptError'
}

/**
 * A request holding its idempotency key, from the take to the stored response: a small state machine.
 *
 *   free --(a transaction starts)--> reserved --(its work succeeded)--> joined --(settle)--> closed
 *                                             \--(its work failed)----> free
 *   free --(close: answered without a transaction)--> closed
 *   free --(a write that stores the response itself)--> reserved --(it committed)--> closed
 *                                                                 \--(it failed)----> free
 *
 * As a transaction participant it joins the first transaction its handler opens: the write's result
 * goes to the handler, and the transaction stays open until the response rendered from that result is
 * handed over (`settle`), is stored with the write, and both commit. A response that must not be kept
 * rolls both back. The wait for the response is bounded by `responseWaitMs`.
 */
export class HeldKey implements TransactionParticipant {
  #phase: 'free' | 'reserved' | 'joined' | 'closed' = 'free'
  #storedWithWrite = false
  #outcome: Promise<void> | undefined
  #resolveResponse!: (response: StoredResponse | undefined) => void
  readonly #response = new Promise<StoredResponse | undefined>((resolve) => {
    this.#resolveResponse = resolve
  })

  constructor(
    private readonly store: IdempotencyKeyStore,
    readonly hold: KeyHold,
    /** Longest a joined transaction waits for the response (then it rolls back, and the key is released). */
    private readonly responseWaitMs: number,
  ) {}

  /** Whether a transaction joined: its commit then depends on `settle`. */
  get inTransaction(): boolean {
    return this.#outcome !== undefined
  }

  /** No transaction has joined yet, and the request has not been answered. */
  get isFree(): boolean {
    return this.#phase === 'free'
  }

  /** The write stored the response itself, in its own statement (replace_calendar_set): nothing is left to keep. */
  get storedWithWrite(): boolean {
    return this.#storedWithWrite
  }

  /**
   * For a write that stores its response itself (reserved first): it committed with the response, so
   * the key is completed and closed.
   */
  markStoredWithWrite(): void {
    this.#storedWithWrite = true
    this.#phase = 'closed'
  }

  reserve(): boolean {
    if (this.#phase !== 'free') return false
    this.#phase = 'reserved'
    return true
  }

  async beforeCommit(tx: Tx): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.responseWaitMs)
    })
    const response = await Promise.race([this.#response, timedOut]).finally(() => clearTimeout(timer))
    if (response === 'timeout') throw new ResponseNotKeptError(`no response within ${this.responseWaitMs} ms`)
    if (!response) throw new ResponseNotKeptError()
    if (!(await this.store.complete(this.hold, response, tx))) {
      throw new IdempotencyKeyInUseError(
        "this request's hold on its Idempotency-Key lapsed and a retry took the key over; nothing was written",
        { retryAfterSeconds: 1 },
      )
    }
  }

  joined(outcome: Promise<void>): void {
    outcome.catch(() => {}) // awaited by settle(); a rollback nobody waits for is not an unhandled rejection
    this.#outcome = outcome
    if (this.#phase === 'reserved') this.#phase = 'joined'
  }

  declined(): void {
    if (this.#phase === 'reserved') this.#phase = 'free'
  }

  /**
   * Hands the response to the joined transaction (undefined: roll it back) and waits for it: resolves
   * once the write and the response are committed, rejects when the transaction rolled back.
   */
  async settle(response: StoredResponse | undefined): Promise<void> {
    this.#phase = 'closed'
    this.#resolveResponse(response)
    await this.#outcome
  }

  /** No transaction joined before the response: one that joins later rolls back. */
  close(): void {
    this.#phase = 'closed'
    this.#resolveResponse(undefined)
  }
}
