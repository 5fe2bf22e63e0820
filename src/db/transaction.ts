import type { Config } from '../config.ts'
import { isRetryableTransactionError } from './database-errors.ts'
import type { Prisma, PrismaClient } from './prisma.ts'

export type Tx = Prisma.TransactionClient

export interface TransactionOptions {
  maxWaitMs: number
  timeoutMs: number
  maxAttempts: number
  /** Injected so tests and benchmarks need not sleep for real. */
  sleep?: (ms: number) => Promise<void>
  /** The participant of the current request, if any (the idempotency plugin's, via AsyncLocalStorage). */
  participant?: () => TransactionParticipant | undefined
}

export type RunInTransaction = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>

/**
 * Something that must commit or roll back together with a request's write: the request's Idempotency-Key
 * (src/services/idempotency/request-key.ts). The runner asks `participant()` at the start of each
 * transaction; a participant joins one transaction at most.
 */
export interface TransactionParticipant {
  /** The transaction's first statement (taking the key); throwing rolls back before `work` runs. */
  begin(tx: Tx): Promise<void>
  /**
   * Called inside the transaction after `work` succeeded and its result was handed to the caller: write
   * what must commit with the work, or throw to roll all of it back. The transaction stays open (and
   * keeps its locks) until this settles, so it must settle soon after the caller is done.
   */
  beforeCommit(tx: Tx): Promise<void>
  /** `work` succeeded: `outcome` resolves when the transaction commits and rejects when it rolls back. */
  joined(outcome: Promise<void>): void
  /** `work` failed (after any retries): nothing of the participant was written. */
  declined(): void
}

/**
 * The one way services open a transaction: READ COMMITTED (each statement sees what earlier lock
 * holders committed; services serialize per scope with a lock taken by their first statement; the
 * pool pins it per connection, which saves a SET TRANSACTION round trip per transaction),
 * bounded wait for a connection, bounded duration, and bounded retries with jittered exponential
 * backoff for serialization failures and deadlocks only. Nothing else is retried: pool exhaustion,
 * timeouts and constraint violations go straight to the caller.
 */
export function createTransactionRunner(prisma: PrismaClient, options: TransactionOptions): RunInTransaction {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const settings = { maxWait: options.maxWaitMs, timeout: options.timeoutMs }
  const backoff = (attempt: number) => sleep(Math.random() * 25 * 2 ** attempt)

  /**
   * With a participant: the work's result goes to the caller while the transaction stays open; the
   * participant then writes its part (the response the caller rendered from that result) and the
   * transaction commits both, or neither. Retries happen only before the result was handed over.
   */
  async function runJoined<T>(work: (tx: Tx) => Promise<T>, participant: TransactionParticipant): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let outcome: Promise<void> | undefined
      const first = await new Promise<{ value: T } | { error: unknown }>((resolve) => {
        outcome = prisma.$transaction(async (tx) => {
          await participant.begin(tx)
          const value = await work(tx)
          resolve({ value })
          await participant.beforeCommit(tx)
        }, settings)
        outcome.catch((error: unknown) => resolve({ error })) // a no-op once the value was handed over
      })
      if ('value' in first && outcome) {
        participant.joined(outcome)
        return first.value
      }
      const { error } = first as { error: unknown }
      if (attempt >= options.maxAttempts || !isRetryableTransactionError(error)) {
        participant.declined()
        throw error
      }
      await backoff(attempt)
    }
  }

  return async function runInTransaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    // The request's Idempotency-Key, when no write of the request took it yet: taken first in this
    // transaction, and its answer stored last (docs/api.md, Idempotency; bounded by DB_TX_TIMEOUT_MS).
    const participant = options.participant?.()
    if (participant) return runJoined(work, participant)
    for (let attempt = 1; ; attempt++) {
      try {
        return await prisma.$transaction(work, settings)
      } catch (error) {
        if (attempt >= options.maxAttempts || !isRetryableTransactionError(error)) throw error
        await backoff(attempt)
      }
    }
  }
}

export function transactionOptionsFrom(config: Config): TransactionOptions {
  return {
    maxWaitMs: config.DB_TX_MAX_WAIT_MS,
    timeoutMs: config.DB_TX_TIMEOUT_MS,
    maxAttempts: config.DB_TX_MAX_ATTEMPTS,
  }
}
