import { randomUUID } from 'node:crypto'
import type { TransactionParticipant, Tx } from '../../db/transaction.ts'
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError } from '../../errors/domain-errors.ts'
import type { IdempotencyKeyStore } from './key-store.ts'

/** A response as it was sent: status, the headers worth replaying, the body's exact bytes (null: none). */
export interface StoredResponse {
  status: number
  headers: Record<string, string>
  body: Uint8Array | null
}

/** What take_idempotency_key answers when the key is not this request's to take. */
export type KeyVerdict =
  | { verdict: 'replay'; status: number; headers: Record<string, string>; body: string | null }
  | { verdict: 'reused'; ifMatch?: string | null; inFlight?: boolean }
  | { verdict: 'running'; leaseLeftMs: number }

export interface RequestKeyOptions {
  store: IdempotencyKeyStore
  /** IDEMPOTENCY_LEASE_MS: how long a key held across statements blocks a retry after a crash. */
  leaseMs: number
  /** IDEMPOTENCY_TTL_SECONDS: how long the answer is kept. */
  ttlSeconds: number
  /** DB_TX_TIMEOUT_MS: the longest a joined transaction waits for the response rendered from it. */
  responseWaitMs: number
}

/** Rolls back a joined transaction whose response is not kept (a 5xx, a transient 409): the key is released. */
class ResponseNotKept extends Error {}

/** Stops the handler: the key's first answer is replayed instead (the plugin sends `replay`). */
class ReplayInstead extends Error {}

/**
 * The current request's Idempotency-Key and where it stands; the take/replay protocol is described once,
 * in docs/api.md (Idempotency). A write takes it in one of three ways, each inside the write:
 * `inStatement` (the set functions take it and store their answer in their own statement), as the first
 * statement of the write's interactive transaction (a TransactionParticipant: the answer is stored before
 * that transaction commits), or `takeBeforeRun` (a sync, whose effects are in Flex: taken with a lease).
 * `finish` keeps (or releases) what is left once the request is answered.
 */
export class RequestKey implements TransactionParticipant {
  readonly owner = randomUUID()
  /** The key's first answer, when the write found it completed: sent instead of this request's. */
  replay: StoredResponse | undefined
  #phase: 'free' | 'in-write' | 'held' | 'joined' | 'stored' | 'answered' = 'free'
  #outcome: Promise<void> | undefined
  #resolveResponse!: (response: StoredResponse | undefined) => void
  readonly #response = new Promise<StoredResponse | undefined>((resolve) => {
    this.#resolveResponse = resolve
  })

  constructor(
    /** The distribution value of the rows the write protects (the route's first path parameter). */
    readonly tenant: string,
    /** Credential, method and path. */
    readonly scope: string,
    readonly key: string,
    /** sha256 of the query string and the body's bytes, and of If-Match when sent. */
    readonly fingerprint: string,
    readonly ifMatch: string | undefined,
    private readonly options: RequestKeyOptions,
  ) {}

  /** take_idempotency_key's argument (jsonb). */
  argument(): string {
    const { tenant, scope, key, fingerprint, ifMatch, owner } = this
    const { leaseMs, ttlSeconds } = this.options
    return JSON.stringify({ tenant, scope, key, fingerprint, ifMatch, owner, leaseMs, ttlSeconds })
  }

  /**
   * Runs a write that takes the key and stores its answer in its own statement (`run` gets the argument,
   * or null when the key was taken already). A row with a key_verdict wrote nothing: it is acted on here.
   */
  async inStatement<Row extends { key_verdict: KeyVerdict | null; answer: string | null }>(
    run: (argument: string | null) => Promise<Row[]>,
  ): Promise<Row[]> {
    if (this.#phase !== 'free') return run(null)
    this.#phase = 'in-write'
    let rows: Row[]
    try {
      rows = await run(this.argument())
    } catch (error) {
      this.#phase = 'free' // rolled back with the write: the key was not taken
      throw error
    }
    const verdict = rows[0]?.key_verdict
    if (verdict) this.#refuse(verdict)
    // No answer: refused (412, 404...) having taken the key; `finish` stores that refusal.
    this.#phase = rows[0]?.answer != null ? 'stored' : 'held'
    return rows
  }

  /** For a sync: takes the key with a lease, committed, before it runs (IdempotencyService.keepAlive renews it). */
  async takeBeforeRun(): Promise<void> {
    const verdict = await this.options.store.take(this)
    if (verdict) this.#refuse(verdict)
    this.#phase = 'held'
  }

  /** For the transaction runner: this key, when no write has taken it yet (the first transaction takes it). */
  forTransaction(): TransactionParticipant | undefined {
    return this.#phase === 'free' ? this : undefined
  }

  async begin(tx: Tx): Promise<void> {
    this.#phase = 'in-write'
    const verdict = await this.options.store.take(this, tx)
    if (verdict) this.#refuse(verdict)
  }

  async beforeCommit(tx: Tx): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.responseWaitMs)
    })
    const response = await Promise.race([this.#response, timedOut]).finally(() => clearTimeout(timer))
    if (response === 'timeout')
      throw new ResponseNotKept(`no response within ${this.options.responseWaitMs} ms`)
    if (!response) throw new ResponseNotKept()
    if (!(await this.options.store.complete(this, response, tx))) throw keyTakenOver()
  }

  joined(outcome: Promise<void>): void {
    outcome.catch(() => {}) // awaited by finish(); a rollback nobody waits for is not an unhandled rejection
    this.#outcome = outcome
    this.#phase = 'joined'
  }

  declined(): void {
    if (this.#phase === 'in-write') this.#phase = 'free'
  }

  /**
   * The request was answered with `response` (undefined: nothing to keep, or not known), `kept` saying
   * whether it is the request's outcome. Stores it where the write left the key; rejects when the joined
   * transaction rolled back after the handler answered (that answer must not reach the client). False
   * when a key held across statements was taken over by a retry before its answer was stored.
   */
  async finish(response: StoredResponse | undefined, kept: boolean): Promise<boolean> {
    const phase = this.#phase
    this.#phase = 'answered'
    const { store, ttlSeconds } = this.options
    const keep = kept ? response : undefined
    if (phase === 'joined') {
      this.#resolveResponse(keep)
      try {
        await this.#outcome
      } catch (error) {
        if (keep) throw error
      }
      return true
    }
    this.#resolveResponse(undefined) // a transaction that starts now rolls back
    if (phase === 'held') {
      if (!keep) await store.release(this)
      else return store.complete(this, keep)
    } else if (phase === 'free' && keep) {
      await store.keep(this, keep, ttlSeconds) // refused before any write took the key
    }
    return true
  }

  /** Whether the key is held across statements (a sync's), and so needs its lease renewed. */
  get held(): boolean {
    return this.#phase === 'held'
  }

  #refuse(verdict: KeyVerdict): never {
    this.#phase = 'answered'
    switch (verdict.verdict) {
      case 'replay':
        this.replay = {
          status: verdict.status,
          headers: verdict.headers,
          body: verdict.body === null ? null : Buffer.from(verdict.body, 'base64'),
        }
        throw new ReplayInstead()
      case 'reused':
        throw new IdempotencyKeyReusedError(reusedDetail(verdict, this.ifMatch))
      case 'running':
        throw new IdempotencyKeyInUseError(
          'a request with this Idempotency-Key is still running; retry after it finished',
          { retryAfterSeconds: Math.max(1, Math.ceil(verdict.leaseLeftMs / 1000)) },
        )
    }
  }
}

function reusedDetail(verdict: { ifMatch?: string | null; inFlight?: boolean }, ifMatch: string | undefined) {
  const first = verdict.ifMatch ?? undefined
  const difference =
    !verdict.inFlight && first !== ifMatch
      ? `another If-Match (${first ?? 'none'}; this request: ${ifMatch ?? 'none'})`
      : 'another body, query or If-Match'
  return `this Idempotency-Key was already used for a request with ${difference}; use a new key for a new request`
}

function keyTakenOver() {
  return new IdempotencyKeyInUseError(
    "this request's hold on its Idempotency-Key lapsed and a retry took the key over; nothing was written",
    { retryAfterSeconds: 1 },
  )
}
