import { FlexError } from './flex-errors.ts'

export interface RetryPolicy {
  /** Attempts in all, the first one included; 1 means no retry. */
  maxAttempts: number
  /** Backoff ceiling before the first retry; it doubles for each later one, up to maxDelayMs. */
  baseDelayMs: number
  maxDelayMs: number
  /** Longest wait a Retry-After header can impose. */
  maxRetryAfterMs: number
  sleep: (ms: number) => Promise<void>
  /** In [0, 1), for the jitter. */
  random: () => number
}

/**
 * Runs `attempt` (given its number, from 1) until it succeeds, fails with anything but a retryable
 * FlexError, or maxAttempts have failed. Only for idempotent calls.
 */
export async function withRetries<T>(policy: RetryPolicy, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (error) {
      if (!(error instanceof FlexError) || !error.retryable || n >= policy.maxAttempts) throw error
      await policy.sleep(retryDelayMs(policy, n, error.retryAfterMs))
    }
  }
}

/**
 * The wait after failed attempt `n`: the server's Retry-After when it sent one (capped), else full
 * jitter, a random delay below min(maxDelayMs, baseDelayMs * 2^(n-1)).
 */
export function retryDelayMs(policy: RetryPolicy, n: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs)
  return policy.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1))
}

/** A Retry-After header (delta-seconds or an HTTP date) in milliseconds from `now`; undefined if unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  const text = value?.trim()
  if (!text) return undefined
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // An HTTP date spells out its day and month; Date.parse alone would read "-1" as a year.
  const date = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
