import { AsyncLocalStorage } from 'node:async_hooks'
import type { PrismaClient } from '../../db/prisma.ts'
import type { TransactionParticipant } from '../../db/transaction.ts'
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError } from '../../errors/domain-errors.ts'
import { HeldKey } from './held-key.ts'
import { IdempotencyKeyStore, type IdempotentRequest, type StoredResponse } from './key-store.ts'

interface IdempotencyServiceDeps {
  prisma: PrismaClient
  /** How long a key is kept (IDEMPOTENCY_TTL_SECONDS); then it is free again and purged. */
  ttlSeconds: number
  /** A running request's hold on its key, renewed every third of it (IDEMPOTENCY_LEASE_MS). */
  leaseMs: number
  /** Longest a write's transaction waits for the response rendered from it (DB_TX_TIMEOUT_MS). */
  responseWaitMs: number
  log?: { warn(obj: object, msg: string): void }
}

/** Taking a key: the request now holds it, or its first request's response is replayed. */
type TakeResult = { held: HeldKey } | { replay: StoredResponse }

const TAKE_ATTEMPTS = 3

/**
 * Idempotency keys with Stripe's semantics (and the IETF draft's status codes), in three parts: the
 * key store (./key-store.ts, the SQL), the held key (./held-key.ts, the state machine that stores the
 * response with the write), and this service, which ties them to a request: take or replay, keep the
 * lease alive, hand the held key to the transaction runner, purge expired keys. The HTTP hooks are in
 * src/plugins/idempotency.ts.
 */
export class IdempotencyService {
  readonly #current = new AsyncLocalStorage<HeldKey>()
  private readonly store: IdempotencyKeyStore

  constructor(private readonly deps: IdempotencyServiceDeps) {
    this.store = new IdempotencyKeyStore(deps.prisma, { ttlSeconds: deps.ttlSeconds, leaseMs: deps.leaseMs })
  }

  /**
   * Takes the key for `request`, or replays the response its first request stored. Another request
   * under the key is a 422; a running one a 409 with Retry-After.
   */
  async take(request: IdempotentRequest): Promise<TakeResult> {
    for (let attempt = 1; attempt <= TAKE_ATTEMPTS; attempt++) {
      const hold = await this.store.take(request)
      if (hold) return { held: new HeldKey(this.store, hold, this.deps.responseWaitMs) }
      const state = await this.store.stateOf(request)
      switch (state.kind) {
        case 'free':
          continue // purged, freed or lapsed since the take: take it again
        case 'other-request':
          throw new IdempotencyKeyReusedError(
            'this Idempotency-Key was already used for a request with another body or query; ' +
              'use a new key for a new request',
          )
        case 'completed':
          return { replay: state.response }
        case 'running':
          throw inUse(state.leaseLeftMs)
      }
    }
    throw inUse(1000)
  }

  /** Stores the response outside any transaction (nothing was written); false when the key is no longer ours. */
  complete(held: HeldKey, response: StoredResponse): Promise<boolean> {
    return this.store.complete(held.hold, response)
  }

  /** Frees the key so the client may retry with it (the request wrote nothing worth replaying). */
  release(held: HeldKey): Promise<void> {
    return this.store.release(held.hold)
  }

  purgeExpired(batchSize?: number, maxBatches?: number): Promise<number> {
    return this.store.purgeExpired(batchSize, maxBatches)
  }

  /**
   * Renews the hold's lease every third of it until the returned function is called (or the key is
   * lost). The timer does not keep the process alive.
   */
  keepAlive(held: HeldKey): () => void {
    const timer = setInterval(
      () => {
        this.store.renew(held.hold).then(
          (ours) => ours || clearInterval(timer),
          (error: unknown) => this.deps.log?.warn({ err: error }, 'could not renew an idempotency key lease'),
        )
      },
      Math.max(10, Math.floor(this.deps.leaseMs / 3)),
    )
    timer.unref()
    return () => clearInterval(timer)
  }

  /**
   * Purges expired keys every `intervalMs` (each instance; the purge skips rows another is deleting).
   * The returned function stops it and waits for a purge in flight.
   */
  startPurging(intervalMs: number): () => Promise<void> {
    let stopped = false
    let purging: Promise<unknown> = Promise.resolve()
    const timer = setInterval(() => {
      if (stopped) return
      purging = this.purgeExpired().catch((error: unknown) =>
        this.deps.log?.warn({ err: error }, 'could not purge expired idempotency keys'),
      )
    }, intervalMs)
    timer.unref()
    return async () => {
      stopped = true
      clearInterval(timer)
      await purging
    }
  }

  /** Runs `fn` (the route's handler) with `held` as the participant of the first transaction it opens. */
  runWith<T>(held: HeldKey, fn: () => T): T {
    return this.#current.run(held, fn)
  }

  /** Whether the current request holds a key that no transaction has joined yet. */
  holdsFreeKey(): boolean {
    return this.#current.getStore()?.isFree ?? false
  }

  /**
   * For a write that stores the request's response itself, in its own statement: the current request's
   * held key, reserved for it (declined() if the write fails, markStoredWithWrite() once it committed);
   * undefined when the request has no key, or a transaction already joined it.
   */
  keyToStoreWithWrite(): HeldKey | undefined {
    const held = this.#current.getStore()
    return held?.reserve() ? held : undefined
  }

  /** For the transaction runner: the current request's held key, if it has not joined a transaction yet. */
  participant(): TransactionParticipant | undefined {
    const held = this.#current.getStore()
    return held?.reserve() ? held : undefined
  }
}

function inUse(leaseLeftMs: number) {
  return new IdempotencyKeyInUseError(
    'a request with this Idempotency-Key is still running; retry after it finished',
    {
      retryAfterSeconds: Math.max(1, Math.ceil(leaseLeftMs / 1000)),
    },
  )
}
