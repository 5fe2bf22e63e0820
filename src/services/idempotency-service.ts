import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../db/prisma.ts'
import type { TransactionParticipant, Tx } from '../db/transaction.ts'
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError } from '../errors/domain-errors.ts'

export interface IdempotencyServiceDeps {
  prisma: PrismaClient
  /** How long a key is kept (IDEMPOTENCY_TTL_SECONDS); then it is free again and purged. */
  ttlSeconds: number
  /** A running request's hold on its key, renewed every third of it (IDEMPOTENCY_LEASE_MS). */
  leaseMs: number
  log?: { warn(obj: object, msg: string): void }
}

/** One idempotent request: its scope (credential, method, path), the client's key, what was sent. */
export interface IdempotentRequest {
  scope: string
  key: string
  /** sha256 (hex) of the query string and the body's bytes. */
  fingerprint: string
}

/** A response as it was sent: status, the headers worth replaying, the body's exact bytes (null: none). */
export interface StoredResponse {
  status: number
  headers: Record<string, string>
  body: Uint8Array | null
}

/** A claimed key. Only the holder of `owner` (a random token per claim) may complete or release it. */
export interface Claim {
  scope: string
  key: string
  owner: string
}

export type ClaimResult = { claimed: ClaimedRequest } | { replay: StoredResponse }

interface KeyRow {
  fingerprint: string
  state: 'in_progress' | 'completed'
  free: boolean
  lease_left_ms: number
  response_status: number | null
  response_headers: Record<string, string> | null
  response_body: Uint8Array | null
}

const CLAIM_ATTEMPTS = 3

/**
 * Idempotency keys with Stripe's semantics (and the IETF draft's status codes), on the
 * `idempotency_keys` table. The database decides every race and every expiry (its clock, one
 * statement each), so any number of instances agree:
 *
 * - `claim` is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <free>`: it inserts an absent key, or
 *   takes over one that expired (past the TTL) or whose holder stopped renewing its lease (a crash)
 *   when the request is the same; otherwise it reads the row: another request under that key is a
 *   422, a running one a 409 with Retry-After, a completed one is replayed.
 * - `complete` stores the response and `release` frees the key, both only for the claim's owner, so a
 *   request whose key was taken over after its lease lapsed can no longer store anything.
 * - The claimed request is also the transaction participant (src/db/transaction.ts) that the runner
 *   finds through AsyncLocalStorage while the route's handler runs: the response is then stored in the
 *   transaction of the write it reports, and commits with it or not at all.
 */
export class IdempotencyService {
  readonly #current = new AsyncLocalStorage<ClaimedRequest>()

  constructor(private readonly deps: IdempotencyServiceDeps) {}

  async claim(request: IdempotentRequest): Promise<ClaimResult> {
    const { prisma, leaseMs, ttlSeconds } = this.deps
    const { scope, key, fingerprint } = request
    for (let attempt = 1; attempt <= CLAIM_ATTEMPTS; attempt++) {
      const owner = randomUUID()
      const claimed = await prisma.$queryRaw<{ owner: string }[]>`
        INSERT INTO idempotency_keys AS k (scope, key, fingerprint, owner, locked_until, expires_at)
        VALUES (${scope}, ${key}, ${fingerprint}, ${owner}::uuid,
                now() + ${leaseMs}::float8 * interval '1 millisecond',
                now() + ${ttlSeconds}::float8 * interval '1 second')
        ON CONFLICT (scope, key) DO UPDATE SET
               fingerprint = EXCLUDED.fingerprint, state = 'in_progress', owner = EXCLUDED.owner,
               locked_until = EXCLUDED.locked_until, response_status = NULL, response_headers = NULL,
               response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE (k.expires_at <= now() AND (k.state = 'completed' OR k.locked_until <= now()))
            OR (k.state = 'in_progress' AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint)
        RETURNING k.owner::text AS owner`
      if (claimed.length === 1) return { claimed: new ClaimedRequest(this, { scope, key, owner }) }

      const [row] = await prisma.$queryRaw<KeyRow[]>`
        SELECT fingerprint, state, response_status, response_headers, response_body,
               (expires_at <= now() AND (state = 'completed' OR locked_until <= now())) AS free,
               COALESCE(EXTRACT(EPOCH FROM (locked_until - now())) * 1000, 0)::float8 AS lease_left_ms
          FROM idempotency_keys WHERE scope = ${scope} AND key = ${key}`
      // Gone (purged) or freed since the INSERT: claim again.
      if (!row || row.free) continue
      if (row.fingerprint !== fingerprint) {
        throw new IdempotencyKeyReusedError(
          'this Idempotency-Key was already used for a request with another body or query; ' +
            'use a new key for a new request',
        )
      }
      if (row.state === 'completed' && row.response_status !== null) {
        return {
          replay: {
            status: row.response_status,
            headers: row.response_headers ?? {},
            body: row.response_body,
          },
        }
      }
      if (row.lease_left_ms <= 0) continue // its holder's lease lapsed since the INSERT: take it over
      throw this.inUse(row.lease_left_ms)
    }
    throw this.inUse(1000)
  }

  /** Stores the response for the claim's owner (in `tx` when given); false when the key is no longer ours. */
  async complete(claim: Claim, response: StoredResponse, tx?: Tx): Promise<boolean> {
    const db = tx ?? this.deps.prisma
    const body = response.body === null ? null : Buffer.from(response.body)
    const updated = await db.$executeRaw`
      UPDATE idempotency_keys
         SET state = 'completed', locked_until = NULL, response_status = ${response.status}::int,
             response_headers = ${JSON.stringify(response.headers)}::jsonb, response_body = ${body}
       WHERE scope = ${claim.scope} AND key = ${claim.key} AND owner = ${claim.owner}::uuid
         AND state = 'in_progress'`
    return updated === 1
  }

  /** Frees the key so the client may retry with it (the request wrote nothing worth replaying). */
  async release(claim: Claim): Promise<void> {
    await this.deps.prisma.$executeRaw`
      DELETE FROM idempotency_keys
       WHERE scope = ${claim.scope} AND key = ${claim.key} AND owner = ${claim.owner}::uuid
         AND state = 'in_progress'`
  }

  /** Extends the claim's lease; false when the key is no longer ours. */
  async renew(claim: Claim): Promise<boolean> {
    const updated = await this.deps.prisma.$executeRaw`
      UPDATE idempotency_keys SET locked_until = now() + ${this.deps.leaseMs}::float8 * interval '1 millisecond'
       WHERE scope = ${claim.scope} AND key = ${claim.key} AND owner = ${claim.owner}::uuid
         AND state = 'in_progress'`
    return updated === 1
  }

  /**
   * Deletes expired keys in batches of `batchSize` (at most `maxBatches` per call, so one call stays
   * short), skipping rows another instance is deleting or taking over. Returns how many it deleted.
   */
  async purgeExpired(batchSize = 1000, maxBatches = 10): Promise<number> {
    let total = 0
    for (let batch = 0; batch < maxBatches; batch++) {
      const deleted = await this.deps.prisma.$executeRaw`
        DELETE FROM idempotency_keys
         WHERE ctid IN (SELECT ctid FROM idempotency_keys
                         WHERE expires_at <= now() AND (state = 'completed' OR locked_until <= now())
                         LIMIT ${batchSize}::int FOR UPDATE SKIP LOCKED)
           AND expires_at <= now() AND (state = 'completed' OR locked_until <= now())`
      total += deleted
      if (deleted < batchSize) break
    }
    return total
  }

  /**
   * Renews the claim's lease every third of it until the returned function is called (or the key is
   * lost). The timer does not keep the process alive.
   */
  keepAlive(claim: Claim): () => void {
    const timer = setInterval(
      () => {
        this.renew(claim).then(
          (ours) => ours || clearInterval(timer),
          (error: unknown) => this.deps.log?.warn({ err: error }, 'could not renew an idempotency key lease'),
        )
      },
      Math.max(10, Math.floor(this.deps.leaseMs / 3)),
    )
    timer.unref()
    return () => clearInterval(timer)
  }

  /** Runs `fn` (the route's handler) with `request` as the participant of the first transaction it opens. */
  runWith<T>(request: ClaimedRequest, fn: () => T): T {
    return this.#current.run(request, fn)
  }

  /** For the transaction runner: the current request's participant, if it has not joined one yet. */
  participant(): TransactionParticipant | undefined {
    const request = this.#current.getStore()
    return request?.reserve() ? request : undefined
  }

  private inUse(leaseLeftMs: number) {
    return new IdempotencyKeyInUseError(
      'a request with this Idempotency-Key is still running; retry after it finished',
      { retryAfterSeconds: Math.max(1, Math.ceil(leaseLeftMs / 1000)) },
    )
  }
}

/**
 * A request holding its key, from the claim to the stored response. As a transaction participant it
 * joins the first transaction its handler opens: the write's result goes to the handler, the
 * transaction stays open until the plugin hands over the response rendered from it (`settle`), stores
 * that response with the write, and commits both. A response that must not be kept rolls back.
 */
export class ClaimedRequest implements TransactionParticipant {
  #phase: 'free' | 'reserved' | 'joined' | 'closed' = 'free'
  #outcome: Promise<void> | undefined
  #resolveResponse!: (response: StoredResponse | undefined) => void
  readonly #response = new Promise<StoredResponse | undefined>((resolve) => {
    this.#resolveResponse = resolve
  })

  constructor(
    private readonly service: IdempotencyService,
    readonly claim: Claim,
  ) {}

  /** Whether a transaction joined: its commit then depends on `settle`. */
  get inTransaction(): boolean {
    return this.#outcome !== undefined
  }

  reserve(): boolean {
    if (this.#phase !== 'free') return false
    this.#phase = 'reserved'
    return true
  }

  async beforeCommit(tx: Tx): Promise<void> {
    const response = await this.#response
    if (!response) throw new ResponseNotKeptError()
    if (!(await this.service.complete(this.claim, response, tx))) {
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

/** Rolls back a transaction whose response is not kept (a 5xx, a transient 409): the key is released. */
export class ResponseNotKeptError extends Error {
  override name = 'ResponseNotKeptError'
}
