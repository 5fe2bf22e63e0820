import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import { type ReceivedWebhook, startWebhookReceiver } from '../helpers/webhook-receiver.ts'
import type { History } from './history.ts'
import type { Random } from './random.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * The chaos servers' webhook settings: an attempt times out after WEBHOOK_TIMEOUT_MS (the receiver's
 * slow answers take longer), and the retry schedule is short so every delivery is retried within the
 * settle period: 16 attempts over about 11 s, so a delivery given up for good while the receiver fails
 * 4 attempts in 10 would take 0.45^16, about 3e-6.
 */
export const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_TIMEOUT_MS: '400',
  WEBHOOK_RETRY_SCHEDULE_MS: '0,100,200,300,500,500,500,1000,1000,1000,1000,1000,1000,1000,1000,1000',
  WEBHOOK_POLL_MS: '100',
  WEBHOOK_ENDPOINT_CONCURRENCY: '4',
}
/** Slower than WEBHOOK_TIMEOUT_MS: the sender gives up first. */
const SLOW_MS = 1_000

/**
 * A real HTTP receiver with injected faults while the chaos lasts: 25% 500s, 7% dropped connections,
 * 7% answers slower than the servers' timeout, 6% 429 with Retry-After: 1; every request recorded.
 * heal() ends the faults: everything is answered 204 from then on.
 */
export async function startFaultyReceiver(t: Teardown, random: Random, history: History) {
  const counts = new Map<string, number>()
  let faulty = true
  const fault = (kind: string, n: number) => {
    counts.set(kind, (counts.get(kind) ?? 0) + 1)
    history.fault(kind, `request ${n + 1}`)
  }
  const receiver = await startWebhookReceiver(t, (n) => {
    if (!faulty) return { status: 204 }
    const roll = random.next()
    if (roll < 0.25) {
      fault('webhook-500', n)
      return { status: 500 }
    }
    if (roll < 0.32) {
      fault('webhook-drop', n)
      return { drop: true }
    }
    if (roll < 0.39) {
      fault('webhook-slow', n)
      return { slowMs: SLOW_MS }
    }
    if (roll < 0.45) {
      fault('webhook-429', n)
      return { status: 429, headers: { 'retry-after': '1' } }
    }
    return { status: 204 }
  })
  return {
    url: receiver.url,
    received: receiver.received as readonly ReceivedWebhook[],
    counts,
    heal() {
      faulty = false
    },
  }
}

/** How long the deliveries may take to drain once the faults stop: a killed worker's lease, then retries. */
export const WEBHOOK_SETTLE_BOUND_MS = 60_000

/**
 * Waits until no delivery is pending (or the bound passes); returns the seconds it took and what is
 * still pending or failed for good, read from the outbox.
 */
export async function settleWebhooks(
  databaseUrl: string,
): Promise<{ seconds: number; pending: number; failed: number }> {
  const started = performance.now()
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'rostersync-chaos' })
  await db.connect()
  try {
    const deadline = Date.now() + WEBHOOK_SETTLE_BOUND_MS
    for (;;) {
      const { rows } = await db.query<{ pending: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
                count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM webhook_deliveries`,
      )
      const { pending = 0, failed = 0 } = rows[0] ?? {}
      if (pending === 0 || Date.now() > deadline)
        return { seconds: (performance.now() - started) / 1000, pending, failed }
      await delay(200)
    }
  } finally {
    await db.end()
  }
}
