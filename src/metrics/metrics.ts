import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { BudgetUsage } from '../services/sync/flex-call-budget.ts'
import type { ScheduleStats } from '../services/sync/sync-schedule.ts'
import type { DeliveryQueueStats } from '../services/webhooks/webhook-delivery-queue.ts'

export interface PoolStats {
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
    syncQuarantines: new Counter({
      name: 'rostersync_sync_quarantines_total',
      help:
        'Crew calls this instance quarantined: their sync had ended the process SYNC_MAX_CRASHES times ' +
        'in a row (runs claimed and never finished).',
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
    rateLimitStore: new Gauge({
      name: 'rostersync_rate_limit_shared',
      help:
        'Whether the /v1 rate limit counts in Redis, shared by every instance (1), or in this ' +
        "instance's memory (0: RATE_LIMIT_REDIS_URL unset, or Redis not answering).",
      registers: [registry],
    }),
    rateLimitLocalCounts: new Counter({
      name: 'rostersync_rate_limit_local_counts_total',
      help:
        "Requests counted in this instance's memory because Redis (RATE_LIMIT_REDIS_URL) did not answer: " +
        'each was limited per instance, not shared.',
      registers: [registry],
    }),
    bodiesTimedOut: new Counter({
      name: 'rostersync_request_bodies_timed_out_total',
      help:
        'Request bodies that did not arrive in time, answered 408 with the connection closed, by reason: ' +
        'deadline (BODY_READ_TIMEOUT_MS) or idle (BODY_IDLE_TIMEOUT_MS).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    bodyBytes: new Counter({
      name: 'rostersync_request_body_bytes_total',
      help:
        'Request body bytes charged to the body budget (by Content-Length; chunked: BODY_LIMIT_BYTES), by ' +
        'outcome: answered, timed_out (408), abandoned (the client left first), or refused_budget and ' +
        'refused_share (503, never charged: BODY_BYTES_IN_FLIGHT or BODY_BYTES_PER_CREDENTIAL was full).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'rostersync_webhook_deliveries_total',
      help:
        'Webhook delivery attempts, by event type and outcome: delivered, retrying (failed, tried again ' +
        'later), failed (the last attempt failed), gone (410: the endpoint was disabled).',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
  }
  let readBodyBytesInFlight: (() => number) | undefined
  new Gauge({
    name: 'rostersync_request_body_bytes_in_flight',
    help: 'Request body bytes charged to the body budget now (BODY_BYTES_IN_FLIGHT).',
    registers: [registry],
    collect() {
      if (readBodyBytesInFlight) this.set(readBodyBytesInFlight())
    },
  })
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
  new Gauge({
    name: 'rostersync_crew_calls_quarantined',
    help:
      'Crew calls quarantined now (counted among the failed ones): their sync ended the process ' +
      'SYNC_MAX_CRASHES times in a row; a roster change or a manual sync re-arms them.',
    registers: [registry],
    async collect() {
      const stats = await scheduleAtScrape()
      if (stats) this.set(stats.quarantined)
    },
  })
  let readWebhookQueue: (() => Promise<DeliveryQueueStats>) | undefined
  const webhookQueueAtScrape = () => readWebhookQueue?.().catch(() => undefined)
  new Gauge({
    name: 'rostersync_webhook_queue_depth',
    help: 'Webhook deliveries due now and not in flight, to enabled endpoints.',
    registers: [registry],
    async collect() {
      const stats = await webhookQueueAtScrape()
      if (stats) this.set(stats.due)
    },
  })
  new Gauge({
    name: 'rostersync_webhook_oldest_undelivered_seconds',
    help: 'Age of the oldest webhook delivery not yet delivered (pending); 0 when none.',
    registers: [registry],
    async collect() {
      const stats = await webhookQueueAtScrape()
      if (stats) this.set(stats.oldestUndeliveredSeconds)
    },
  })
  return {
    ...metrics,
    /** Reads the bytes charged to the body budget at scrape time. */
    observeBodyBudget(read: () => number) {
      readBodyBytesInFlight = read
    },
    /** Reads the webhook outbox (queue depth, oldest undelivered) at scrape time. */
    observeWebhookQueue(read: () => Promise<DeliveryQueueStats>) {
      readWebhookQueue = read
    },
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
