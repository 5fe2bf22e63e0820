interface Limiter {
  /** Runs `task` once fewer than the limit are running; tasks start in the order they were given. */
  run<T>(task: () => Promise<T>): Promise<T>
  /** Tasks running now. */
  readonly inFlight: number
  /** The most tasks that ever ran at once. */
  readonly maxInFlight: number
}

/** Bounds how many tasks run at once, e.g. Flex calls in flight during one reconcile. */
export function createLimiter(limit: number): Limiter {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError(`limit must be a positive integer: ${limit}`)
  const waiting: (() => void)[] = []
  let inFlight = 0
  let maxInFlight = 0

  const acquire = async () => {
    if (inFlight < limit) inFlight++
    else await new Promise<void>((resolve) => waiting.push(resolve))
    maxInFlight = Math.max(maxInFlight, inFlight)
  }
  // A finished task hands its slot straight to the next waiter, so a newcomer cannot take it between.
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else inFlight--
  }

  return {
    async run(task) {
      await acquire()
      try {
        return await task()
      } finally {
        release()
      }
    },
    get inFlight() {
      return inFlight
    },
    get maxInFlight() {
      return maxInFlight
    },
  }
}
