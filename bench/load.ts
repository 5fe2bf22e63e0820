/** Calls `operation` from `concurrency` concurrent workers, `calls` times in all. */
export function runCalls(operation: () => Promise<void>, concurrency: number, calls: number): Promise<void> {
  let left = calls
  return runWorkers(concurrency, operation, () => left-- > 0)
}

export interface Rate {
  calls: number
  seconds: number
}

/**
 * Calls `operation` from `concurrency` concurrent workers as long as `durationMs` has not passed. The
 * rate counts the calls over the time until the last one ended.
 */
export async function measureRate(
  operation: () => Promise<void>,
  concurrency: number,
  durationMs: number,
): Promise<Rate> {
  let calls = 0
  const counted = async () => {
    await operation()
    calls++
  }
  const started = performance.now()
  const deadline = started + durationMs
  await runWorkers(concurrency, counted, () => performance.now() < deadline)
  return { calls, seconds: (performance.now() - started) / 1000 }
}

/**
 * Each worker calls `operation` while `shouldContinue()` says so; the first failure stops them all and
 * rejects.
 */
async function runWorkers(
  concurrency: number,
  operation: () => Promise<void>,
  shouldContinue: () => boolean,
): Promise<void> {
  let failed = false
  const worker = async () => {
    while (!failed && shouldContinue()) {
      await operation().catch((error: unknown) => {
        failed = true
        throw error
      })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}
