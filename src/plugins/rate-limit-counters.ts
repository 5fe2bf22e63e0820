import type { Redis } from 'ioredis'

/** One fixed window's count for a key after counting a request, and the milliseconds left in it. */
export interface WindowCount {
  current: number
  ttl: number
}

/** Counts requests per key in fixed windows. */
export interface WindowCounter {
  increment(key: string, windowMs: number): Promise<WindowCount>
}

/**
 * This instance's own counters: N instances allow N times the budget. Bounded to `maxKeys` keys (the
 * oldest window is forgotten first), so a flood of credentials cannot grow it without end.
 */
export class MemoryWindowCounter implements WindowCounter {
  private readonly windows = new Map<string, { count: number; startedAt: number }>()

  constructor(
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async increment(key: string, windowMs: number): Promise<WindowCount> {
    const now = this.now()
    let window = this.windows.get(key)
    if (!window || window.startedAt + windowMs <= now) {
      this.windows.delete(key)
      window = { count: 0, startedAt: now }
      this.windows.set(key, window)
      if (this.windows.size > this.maxKeys) {
        const oldest = this.windows.keys().next().value
        if (oldest !== undefined) this.windows.delete(oldest)
      }
    }
    window.count += 1
    return { current: window.count, ttl: window.startedAt + windowMs - now }
  }
}

// Redis decides: INCR and its expiry in one script, so every instance counts in the same window (the
// script @fastify/rate-limit's own Redis store runs, without its backoff options).
const FIXED_WINDOW_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[1])
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    ttl = tonumber(ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return {current, ttl}`

type RedisWithWindow = Redis & {
  rateLimitWindow(key: string, windowMs: number): Promise<[number, number]>
}

/** Counters in Redis, shared by every instance that uses the same Redis and key prefix. */
export class RedisWindowCounter implements WindowCounter {
  private readonly redis: RedisWithWindow

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
  ) {
    redis.defineCommand('rateLimitWindow', { numberOfKeys: 1, lua: FIXED_WINDOW_SCRIPT })
    this.redis = redis as RedisWithWindow
  }

  async increment(key: string, windowMs: number): Promise<WindowCount> {
    const [current, ttl] = await this.redis.rateLimitWindow(this.keyPrefix + key, windowMs)
    return { current, ttl }
  }
}

export interface FallbackEvents {
  /** The shared counter failed after answering (or before it ever answered): counting per instance. */
  onFallback(error: unknown): void
  /** The shared counter answers again. */
  onRestored(): void
}

/**
 * Counts in the shared counter while it answers, and in this instance's own counter while it does not:
 * a request is never refused or failed because Redis is down, only limited per instance. Reports each
 * change of state once (not once per request).
 */
export class FallbackWindowCounter implements WindowCounter {
  private sharedAnswering = true

  constructor(
    private readonly shared: WindowCounter,
    private readonly local: WindowCounter,
    private readonly events: FallbackEvents,
  ) {}

  get isShared(): boolean {
    return this.sharedAnswering
  }

  /** The shared counter is known not to answer (e.g. it could not be reached at start). */
  reportUnanswered(error: unknown): void {
    if (!this.sharedAnswering) return
    this.sharedAnswering = false
    this.events.onFallback(error)
  }

  async increment(key: string, windowMs: number): Promise<WindowCount> {
    try {
      const count = await this.shared.increment(key, windowMs)
      if (!this.sharedAnswering) {
        this.sharedAnswering = true
        this.events.onRestored()
      }
      return count
    } catch (error) {
      this.reportUnanswered(error)
      return this.local.increment(key, windowMs)
    }
  }
}
