import { setTimeout as delay } from 'node:timers/promises'

export interface WaitOptions {
  timeoutMs?: number
  intervalMs?: number
}

/**
 * Polls `check` until it returns a value other than false/undefined, and returns that value; rejects
 * naming `what` when it has not happened within the timeout. Errors thrown by `check` count as "not
 * yet" (a server still starting refuses connections), and the last one is attached as the cause.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | false | undefined> | T | false | undefined,
  { timeoutMs = 10_000, intervalMs = 25 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== false && value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError })
    }
    await delay(intervalMs)
  }
}
