import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { BudgetUsage } from '../../services/sync/flex-call-budget.ts'
import type { ScheduleStats } from '../../services/sync/sync-schedule.ts'

interface PoolStats {
  totalCount: number
  idleCount: number
  waitingCount: number
}

/**
 * The service's Prometheus metrics, on a registry of its own per app instance (tests and benchmarks
 * run several instances in one process). Names follow Prometheus conventions: base units (seconds),
 * `_total` for counters.
 */
export function createMetrics(pool: PoolStats) {
  const registry = new Registry()
  const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
  const metrics = {
    registry,
    httpRequests: new Counter({
      name: 'rostersync_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'rostersync_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: durationBuckets,
      registers: [registry],
    }),
    syncRuns: new Counter({
      name: 'rostersync_sync_runs_total',
      help:
        'Finished syncs of crew calls with Flex, by status (succeeded, partial, failed, deferred) and ' +
        'trigger (manual, change, retry, resync).',
      labelNames: ['status', 'trigger'] as const,
      registers: [registry],
    }),
    syncDuration: new Histogram({
      name: 'rostersync_sync_duration_seconds',
      help: 'Duration of a sync of one crew call with Flex.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    flexCalls: new Counter({
      name: 'rostersync_flex_calls_total',
      help:
        'HTTP attempts made to Flex, by endpoint (list, add, set-role, remove) and outcome: ok, or the ' +
        'kind of failure (timeout, network, http, unauthorized, rejected, rate-limited, bad-response).',
      labelNames: ['endpoint', 'outcome'] as const,
      registers: [registry],
    }),
  }
  new Gauge({
    name: 'rostersync_db_pool_connections',
    help: 'Database pool connections, by state: in use, idle, and requests waiting for one.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount)
      this.set({ state: 'idle' }, pool.idleCount)
      this.set({ state: 'waiting' }, pool.waitingCount)
    },
  })
  let readBudget: (() => Promise<BudgetUsage>) | undefined
  new Gauge({
    name: 'rostersync_flex_budget_calls',
    help:
      'The Flex call budget shared by every instance (FLEX_CALLS_PER_HOUR, FLEX_CALLS_PER_DAY), by ' +
      'window (hour, day) and state (used in the last window, left).',
    labelNames: ['window', 'state'] as const,
    registers: [registry],
    async collect() {
      if (!readBudget) return
      // A scrape while the database is down still answers, without these samples.
      const usage = await readBudget().catch(() => undefined)
      if (!usage) return
      this.set({ window: 'hour', state: 'used' }, usage.usedLastHour)
      this.set({ window: 'hour', state: 'left' }, usage.leftThisHour)
      this.set({ window: 'day', state: 'used' }, usage.usedLastDay)
      this.set({ window: 'day', state: 'left' }, usage.leftToday)
    },
  })
  let readSchedule: (() => Promise<ScheduleStats>) | undefined
  // A scrape while the database is down still answers, without these samples.
  const scheduleAtScrape = () => readSchedule?.().catch(() => undefined)
  new Gauge({
    name: 'rostersync_sync_queue_depth',
    help: 'Crew calls due for a reconcile now and not running.',
    registers: [registry],
    async collect() {
      const stats = await scheduleAtScrape()
      if (stats) this.set(stats.due)
    },
  })
  new Gauge({
    name: 'rostersync_sync_oldest_pending_seconds',
    help: 'How long the oldest roster change not yet reconciled with Flex has waited.',
    registers: [registry],
    async collect() {
      const stats = await scheduleAtScrape()
      if (stats) this.set(stats.oldestPendingSeconds)
    },
  })
  new Gauge({
    name: 'rostersync_crew_calls',
    help: 'Crew calls by sync state (in-sync, pending, running, retrying, deferred, failed).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const stats = await scheduleAtScrape()
      if (stats) for (const [state, n] of Object.entries(stats.byState)) this.set({ state }, n)
    },
  })
  return {
    ...metrics,
    /** Reads the Flex call budget at scrape time. */
    observeFlexBudget(read: () => Promise<BudgetUsage>) {
      readBudget = read
    },
    /** Reads the sync schedule (queue depth, oldest pending change, states) at scrape time. */
    observeSyncSchedule(read: () => Promise<ScheduleStats>) {
      readSchedule = read
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
