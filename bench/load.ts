/** Calls `operation` from `concurrency` concurrent workers, `calls` times in all. */
export function runCalls(operation: () => Promise<void>, concurrency: number, calls: number): Promise<void> {
  let left = calls
  return runWorkers(concurrency, operation, () => left-- > 0)
}

/** Warm-up calls per contender before the next one's turn (warmUpInterleaved). */
const WARMUP_CHUNK_CALLS = 50

/**
 * Warms contenders up (each `operation` `calls` times, from `concurrency` workers) interleaved: in chunks
 * of WARMUP_CHUNK_CALLS, in ABBA order, so that no contender's rows are all made before another's.
 * Warmed up one after the other, in tables they share, the contender whose rows were made first was the
 * slower: of two identical servers, the one warmed up first served 7-16% fewer PUTs in six runs out of
 * six (whichever server was started first), and 4-6% more in two runs where its rows were made second;
 * interleaved, 1-7% either way (docs/performance.md, how a throughput ratio is measured).
 */
export async function warmUpInterleaved(
  operations: (() => Promise<void>)[],
  concurrency: number,
  calls: number,
): Promise<void> {
  const chunks = Math.max(1, Math.round(calls / WARMUP_CHUNK_CALLS))
  for (let chunk = 0; chunk < chunks; chunk++) {
    for (const operation of chunk % 2 === 0 ? operations : operations.toReversed()) {
      await runCalls(operation, concurrency, Math.ceil(calls / chunks))
    }
  }
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
