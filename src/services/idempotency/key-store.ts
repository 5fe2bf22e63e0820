import type { PrismaClient } from '../../db/prisma.ts'
import { forgetIfLarge } from '../../db/prisma-argument-history.ts'
import type { Tx } from '../../db/transaction.ts'
import type { KeyVerdict, RequestKey, StoredResponse } from './request-key.ts'

/**
 * The `idempotency_keys` table, for the writes that do not take their key in their own statement (the
 * set functions call take_idempotency_key and store_idempotent_answer themselves). The database decides
 * every race and every expiry (its clock, one statement each), so any number of instances agree.
 */
export class IdempotencyKeyStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Takes the key (take_idempotency_key), in `tx` when given: undefined when it is ours now. */
  async take(key: RequestKey, tx?: Tx): Promise<KeyVerdict | undefined> {
    const db = tx ?? this.prisma
    const [row] = await db.$queryRaw<{ verdict: KeyVerdict | null }[]>`
      SELECT take_idempotency_key(${key.argument()}::jsonb) AS verdict`
    return row?.verdict ?? undefined
  }

  /** Stores the response for the key's owner (in `tx` when given); false when the key is no longer ours. */
  async complete(key: RequestKey, response: StoredResponse, tx?: Tx): Promise<boolean> {
    const db = tx ?? this.prisma
    const body = response.body === null ? null : Buffer.from(response.body)
    const updated = await db.$executeRaw`
      UPDATE idempotency_keys
         SET state = 'completed', locked_until = NULL, response_status = ${response.status}::int,
             response_headers = ${JSON.stringify(response.headers)}::jsonb, response_body = ${body}
       WHERE tenant = ${key.tenant} AND scope = ${key.scope} AND key = ${key.key} AND owner = ${key.owner}::uuid
         AND state = 'in_progress'`
    forgetIfLarge(body)
    return updated === 1
  }

  /**
   * Keeps the response of a request that never took its key (refused before any write): one statement,
   * and a key someone took meanwhile keeps theirs.
   */
  async keep(key: RequestKey, response: StoredResponse, ttlSeconds: number): Promise<void> {
    const body = response.body === null ? null : Buffer.from(response.body)
    await this.prisma.$executeRaw`
      INSERT INTO idempotency_keys (tenant, scope, key, fingerprint, if_match, state, owner, response_status,
                                    response_headers, response_body, expires_at)
      VALUES (${key.tenant}, ${key.scope}, ${key.key}, ${key.fingerprint}, ${key.ifMatch ?? null}, 'completed',
              ${key.owner}::uuid, ${response.status}::int, ${JSON.stringify(response.headers)}::jsonb, ${body},
              now() + ${ttlSeconds}::float8 * interval '1 second')
      ON CONFLICT (tenant, scope, key) DO NOTHING`
    forgetIfLarge(body)
  }

  /** Frees the key so the client may retry with it (the request wrote nothing worth replaying). */
  async release(key: RequestKey): Promise<void> {
    await this.prisma.$executeRaw`
      DELETE FROM idempotency_keys
       WHERE tenant = ${key.tenant} AND scope = ${key.scope} AND key = ${key.key} AND owner = ${key.owner}::uuid
         AND state = 'in_progress'`
  }

  /** Extends the key's lease; false when the key is no longer ours. */
  async renew(key: RequestKey, leaseMs: number): Promise<boolean> {
    const updated = await this.prisma.$executeRaw`
      UPDATE idempotency_keys SET locked_until = now() + ${leaseMs}::float8 * interval '1 millisecond'
       WHERE tenant = ${key.tenant} AND scope = ${key.scope} AND key = ${key.key} AND owner = ${key.owner}::uuid
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
