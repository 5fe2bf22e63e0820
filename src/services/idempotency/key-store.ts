import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../../db/prisma.ts'
import { forgetIfLarge } from '../../db/prisma-argument-history.ts'
import type { Tx } from '../../db/transaction.ts'

/** One idempotent request: its scope (credential, method, path), the client's key, what was sent. */
export interface IdempotentRequest {
  scope: string
  key: string
  /** sha256 (hex) of the query string and the body's bytes. */
  fingerprint: string
}

/** A key held by one request. Only the holder of `owner` (a random token per hold) may complete or release it. */
export interface KeyHold {
  scope: string
  key: string
  owner: string
}

/** A response as it was sent: status, the headers worth replaying, the body's exact bytes (null: none). */
export interface StoredResponse {
  status: number
  headers: Record<string, string>
  body: Uint8Array | null
}

/** What a key holds when a request could not take it. */
type KeyState =
  /** Gone, or free again: take it. */
  | { kind: 'free' }
  | { kind: 'other-request' }
  | { kind: 'completed'; response: StoredResponse }
  | { kind: 'running'; leaseLeftMs: number }

interface KeyStoreOptions {
  /** How long a key is kept (IDEMPOTENCY_TTL_SECONDS); then it is free again and purged. */
  ttlSeconds: number
  /** A running request's hold on its key (IDEMPOTENCY_LEASE_MS). */
  leaseMs: number
}

interface KeyRow {
  fingerprint: string
  state: 'in_progress' | 'completed'
  free: boolean
  lease_left_ms: number
  response_status: number | null
  response_headers: Record<string, string> | null
  response_body: Uint8Array | null
}

/**
 * The `idempotency_keys` table. The database decides every race and every expiry (its clock, one
 * statement each), so any number of instances agree; that is why every statement here is SQL.
 */
export class IdempotencyKeyStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: KeyStoreOptions,
  ) {}

  /**
   * Takes the key for `request`: one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <free>` inserts an
   * absent key, or takes over one that expired (past the TTL) or whose holder stopped renewing its lease
   * (a crash) when the request is the same. Undefined when the key is someone else's: see `stateOf`.
   */
  async take(request: IdempotentRequest): Promise<KeyHold | undefined> {
    const { leaseMs, ttlSeconds } = this.options
    const { scope, key, fingerprint } = request
    const owner = randomUUID()
    const taken = await this.prisma.$queryRaw<{ owner: string }[]>`
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
    return taken.length === 1 ? { scope, key, owner } : undefined
  }

  /** What the key holds now, as seen by `request`. */
  async stateOf(request: IdempotentRequest): Promise<KeyState> {
    const [row] = await this.prisma.$queryRaw<KeyRow[]>`
      SELECT fingerprint, state, response_status, response_headers, response_body,
             (expires_at <= now() AND (state = 'completed' OR locked_until <= now())) AS free,
             COALESCE(EXTRACT(EPOCH FROM (locked_until - now())) * 1000, 0)::float8 AS lease_left_ms
        FROM idempotency_keys WHERE scope = ${request.scope} AND key = ${request.key}`
    if (!row || row.free) return { kind: 'free' }
    if (row.fingerprint !== request.fingerprint) return { kind: 'other-request' }
    if (row.state === 'completed' && row.response_status !== null) {
      return {
        kind: 'completed',
        response: {
          status: row.response_status,
          headers: row.response_headers ?? {},
          body: row.response_body,
        },
      }
    }
    // A lease that lapsed since the take is free to take over.
    return row.lease_left_ms <= 0 ? { kind: 'free' } : { kind: 'running', leaseLeftMs: row.lease_left_ms }
  }

  /** Stores the response for the hold's owner (in `tx` when given); false when the key is no longer ours. */
  async complete(hold: KeyHold, response: StoredResponse, tx?: Tx): Promise<boolean> {
    const db = tx ?? this.prisma
    const body = response.body === null ? null : Buffer.from(response.body)
    const updated = await db.$executeRaw`
      UPDATE idempotency_keys
         SET state = 'completed', locked_until = NULL, response_status = ${response.status}::int,
             response_headers = ${JSON.stringify(response.headers)}::jsonb, response_body = ${body}
       WHERE scope = ${hold.scope} AND key = ${hold.key} AND owner = ${hold.owner}::uuid
         AND state = 'in_progress'`
    forgetIfLarge(body)
    return updated === 1
  }

  /** Frees the key so the client may retry with it (the request wrote nothing worth replaying). */
  async release(hold: KeyHold): Promise<void> {
    await this.prisma.$executeRaw`
      DELETE FROM idempotency_keys
       WHERE scope = ${hold.scope} AND key = ${hold.key} AND owner = ${hold.owner}::uuid
         AND state = 'in_progress'`
  }

  /** Extends the hold's lease; false when the key is no longer ours. */
  async renew(hold: KeyHold): Promise<boolean> {
    const updated = await this.prisma.$executeRaw`
      UPDATE idempotency_keys SET locked_until = now() + ${this.options.leaseMs}::float8 * interval '1 millisecond'
       WHERE scope = ${hold.scope} AND key = ${hold.key} AND owner = ${hold.owner}::uuid
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
      const deleted = await this.prisma.$executeRaw`
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
}
