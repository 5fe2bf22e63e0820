import { AsyncLocalStorage } from 'node:async_hooks'
import type { PrismaClient } from '../../db/prisma.ts'
import { IdempotencyKeyStore } from './key-store.ts'
import { RequestKey } from './request-key.ts'

export interface IdempotencyServiceDeps {
  prisma: PrismaClient
  /** How long a key is kept (IDEMPOTENCY_TTL_SECONDS); then it is free again and purged. */
  ttlSeconds: number
  /** A hold across statements (a sync's), renewed every third of it (IDEMPOTENCY_LEASE_MS). */
  leaseMs: number
  /** Longest a write's transaction waits for the response rendered from it (DB_TX_TIMEOUT_MS). */
  responseWaitMs: number
  log?: { warn(obj: object, msg: string): void }
}

/**
 * Idempotency keys with Stripe's semantics (and the IETF draft's status codes); the protocol is in
 * docs/api.md (Idempotency). This service gives each keyed request its RequestKey (`runWith`), which the
 * services' writes take through `currentKey()`, the one hook; it also renews held keys' leases and
 * purges expired keys. The HTTP hooks are in src/plugins/idempotency.ts.
 */
export class IdempotencyService {
  readonly #current = new AsyncLocalStorage<RequestKey>()
  private readonly store: IdempotencyKeyStore

  constructor(private readonly deps: IdempotencyServiceDeps) {
    this.store = new IdempotencyKeyStore(deps.prisma)
  }

  /** A new request's key (nothing is taken yet: its write takes it). */
  keyFor(identity: Pick<RequestKey, 'tenant' | 'scope' | 'key' | 'fingerprint' | 'ifMatch'>): RequestKey {
    const { ttlSeconds, leaseMs, responseWaitMs } = this.deps
    return new RequestKey(
      identity.tenant,
      identity.scope,
      identity.key,
      identity.fingerprint,
      identity.ifMatch,
      {
        store: this.store,
        ttlSeconds,
        leaseMs,
        responseWaitMs,
      },
    )
  }

  /** Runs `fn` (the route's handler) with `key` as the current request's key. */
  runWith<T>(key: RequestKey, fn: () => T): T {
    return this.#current.run(key, fn)
  }

  /** The one hook: the current request's Idempotency-Key, undefined when it came without one. */
  currentKey(): RequestKey | undefined {
    return this.#current.getStore()
  }

  purgeExpired(batchSize?: number, maxBatches?: number): Promise<number> {
    return this.store.purgeExpired(batchSize, maxBatches)
  }

  /**
   * Renews a held key's lease every third of it until the returned function is called (or the key is
   * lost). The timer does not keep the process alive.
   */
  keepAlive(key: RequestKey): () => void {
    const timer = setInterval(
      () => {
        this.store.renew(key, this.deps.leaseMs).then(
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
}
