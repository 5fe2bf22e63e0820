import type { Config } from '../config.ts'
import { isRetryableTransactionError } from './errors.ts'
import type { Prisma, PrismaClient } from './prisma.ts'

export type Tx = Prisma.TransactionClient

export interface TransactionOptions {
  maxWaitMs: number
  timeoutMs: number
  maxAttempts: number
  /** Injected so tests and benchmarks need not sleep for real. */
  sleep?: (ms: number) => Promise<void>
}

export type RunInTransaction = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>

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
  return async function runInTransaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await prisma.$transaction(work, {
          maxWait: options.maxWaitMs,
          timeout: options.timeoutMs,
        })
      } catch (error) {
        if (attempt >= options.maxAttempts || !isRetryableTransactionError(error)) throw error
        await sleep(Math.random() * 25 * 2 ** attempt)
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
