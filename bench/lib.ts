/** Undo actions for what a benchmark started, run once, last-in first-out. */
export class Cleanup {
  private readonly actions: (() => Promise<unknown>)[] = []
  private running: Promise<unknown[]> | undefined

  add(action: () => Promise<unknown>): void {
    this.actions.push(action)
  }

  /** The test helpers' teardown(fn) (tap's name for the same thing), so they run under a Cleanup. */
  teardown(fn: () => unknown): void {
    this.add(async () => await fn())
  }

  /** Runs every action, even after one fails; returns the failures. Later calls share the first run. */
  run(): Promise<unknown[]> {
    this.running ??= this.runAll()
    return this.running
  }

  private async runAll(): Promise<unknown[]> {
    const failures: unknown[] = []
    for (const action of this.actions.toReversed()) {
      await action().catch((error: unknown) => failures.push(error))
    }
    return failures
  }
}

/**
 * Runs `work`, then its cleanup whether it succeeded or not, also on SIGINT/SIGTERM (then exits 1). A
 * failed cleanup fails the run, but never hides the error that failed `work` (it is logged instead).
 */
export async function withCleanup<T>(work: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup()
  const logFailures = (failures: unknown[]) => {
    for (const failure of failures) console.error('cleanup failed:', failure)
  }
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`${signal}: cleaning up`)
    void cleanup
      .run()
      .then(logFailures)
      .finally(() => process.exit(1))
  }
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
  let result: T
  try {
    result = await work(cleanup)
  } catch (error) {
    logFailures(await cleanup.run())
    throw error
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal)
  }
  const failures = await cleanup.run()
  if (failures.length > 0) throw new AggregateError(failures, 'cleanup failed')
  return result
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const upper = sorted[middle]
  if (upper === undefined) throw new Error('median of no values')
  return sorted.length % 2 === 1 ? upper : (upper + (sorted[middle - 1] as number)) / 2
}

export const megabytes = (bytes: number) => bytes / 1024 / 1024

/** A call frame of a V8 profile (CPU or heap). */
export interface CallFrame {
  functionName: string
  url: string
  /** 0-based. */
  lineNumber: number
}

/** A profile's call frame as `function path:line`, the path from inside node_modules/ or src/. */
export const callFrameName = ({ functionName, url, lineNumber }: CallFrame) =>
  `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|src)\//, '')}:${lineNumber + 1}`

/** Samples the process's resident set size until stopped; stop() returns the largest sample, in bytes. */
export function sampleRss(intervalMs: number): { stop(): number } {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, intervalMs)
  return {
    stop() {
      clearInterval(timer)
      return Math.max(peak, process.memoryUsage.rss())
    },
  }
}
