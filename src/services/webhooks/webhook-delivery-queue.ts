import { randomUUID } from 'node:crypto'
import { Prisma, type PrismaClient } from '../../db/prisma.ts'
import type { WebhookEventType } from './webhook-types.ts'

/** A delivery a worker took under its lease, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string
  leaseOwner: string
  /** Counting this one. */
  attempt: number
  endpoint: { id: string; url: string; secrets: string[] }
  event: { type: WebhookEventType; occurredAt: Date; data: unknown }
}

export interface DeliveryQueueStats {
  /** Deliveries due now, not in flight, to enabled endpoints. */
  due: number
  /** Seconds the oldest undelivered (pending) delivery has waited since its event; 0 when none waits. */
  oldestUndeliveredSeconds: number
}

interface WebhookDeliveryQueueOptions {
  /** A claim's lease: the attempt's timeout and some slack. A killed worker's delivery is due again after it. */
  leaseMs: number
  /** Deliveries in flight to one endpoint at once, over every instance. */
  perEndpoint: number
}

/**
 * A delivery that may be attempted now (alias d): pending, due, not in flight, and no earlier event of the
 * same resource to the same endpoint is still waiting for its first attempt or in flight, so the events
 * of one resource go out in version order as far as retries allow.
 */
const CLAIMABLE = Prisma.sql`d.status = 'pending' AND d.next_attempt_at <= now()
  AND (d.lease_until IS NULL OR d.lease_until < now())
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                   WHERE p.endpoint_id = d.endpoint_id AND p.resource = d.resource AND p.event_seq < d.event_seq
                     AND p.status = 'pending' AND (p.attempts = 0 OR p.lease_until > now()))`

/** The deliveries of the outbox, claimed by workers on every instance (FOR UPDATE SKIP LOCKED). */
export class WebhookDeliveryQueue {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: WebhookDeliveryQueueOptions,
  ) {}

  /**
   * Takes up to `max` claimable deliveries under new leases (one statement, one lease owner each) and
   * counts their attempts; none when none is claimable. Each endpoint takes at most its room: perEndpoint
   * less the deliveries to it already in flight on every instance. The endpoints' rows are locked (NO KEY
   * UPDATE: writes that fan events out to them are not blocked) while that is counted, so perEndpoint holds
   * over every instance; another claim skips them.
   */
  async claim(max: number): Promise<ClaimedDelivery[]> {
    const owner = randomUUID()
    const { leaseMs, perEndpoint } = this.options
    // SKIP LOCKED on endpoints and deliveries: workers on every instance take different work, never wait.
    // One round trip: the claim returns each delivery's endpoint and event with it.
    const claimed = await this.prisma.$queryRaw<
      {
        id: string
        attempts: number
        endpoint_id: string
        url: string
        secret: string
        previous_secret: string | null
        previous_secret_until: Date | null
        type: string
        occurred_at: Date
        data: unknown
      }[]
    >`
      WITH endpoint AS (
        SELECT e.id, ${perEndpoint}::int - (SELECT count(*) FROM webhook_deliveries f
                                            WHERE f.endpoint_id = e.id AND f.status = 'pending'
                                              AND f.lease_until > now())::int AS room
          FROM webhook_endpoints e
         WHERE e.enabled
           -- ORDER BY ... OFFSET 0 keeps this a subplan per endpoint that walks its pending deliveries in
           -- event order (a partial index) and stops at the first claimable; pulled up into a join,
           -- PostgreSQL hashed every pending row instead, in time growing with the backlog (migration
           -- 20261206150000_webhook_claim_indexes).
           AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND ${CLAIMABLE}
                        ORDER BY d.event_seq OFFSET 0)
         ORDER BY (SELECT min(d.next_attempt_at) FROM webhook_deliveries d
                    WHERE d.endpoint_id = e.id AND d.status = 'pending')
         LIMIT ${max}::int FOR NO KEY UPDATE OF e SKIP LOCKED
      ), picked AS (
        SELECT p.id FROM endpoint e CROSS JOIN LATERAL (
          SELECT d.id FROM webhook_deliveries d
           WHERE d.endpoint_id = e.id AND ${CLAIMABLE}
           ORDER BY d.event_seq LIMIT greatest(e.room, 0) FOR UPDATE OF d SKIP LOCKED
        ) p
        LIMIT ${max}::int
      )
      UPDATE webhook_deliveries d
         SET lease_owner = ${owner}::uuid, lease_until = now() + ${leaseMs}::int * interval '1 millisecond',
             attempts = d.attempts + 1
        FROM picked, webhook_events ev, webhook_endpoints ep
       WHERE d.id = picked.id AND ev.id = d.event_id AND ep.id = d.endpoint_id
      RETURNING d.id, d.attempts, ep.id AS endpoint_id, ep.url, ep.secret, ep.previous_secret,
                ep.previous_secret_until, ev.type, ev.occurred_at, ev.data`
    return claimed.map((row) => {
      const previous =
        row.previous_secret && row.previous_secret_until && row.previous_secret_until.getTime() > Date.now()
          ? [row.previous_secret]
          : []
      return {
        id: row.id,
        leaseOwner: owner,
        attempt: row.attempts,
        endpoint: { id: row.endpoint_id, url: row.url, secrets: [row.secret, ...previous] },
        event: { type: row.type as WebhookEventType, occurredAt: row.occurred_at, data: row.data },
      }
    })
  }

  /** The receiver took it (2xx). Only the lease holder's word counts. */
  async succeeded(delivery: ClaimedDelivery, status: number): Promise<void> {
    await this.prisma.webhookDelivery.updateMany({
      where: { id: delivery.id, leaseOwner: delivery.leaseOwner },
      data: {
        status: 'succeeded',
        lastStatus: status,
        lastError: null,
        deliveredAt: new Date(),
        leaseOwner: null,
        leaseUntil: null,
      },
    })
  }

  /** The attempt failed: due again at `nextAttemptAt`, or `failed` for good when it is null. */
  async attemptFailed(
    delivery: ClaimedDelivery,
    failure: { status: number | null; error: string; nextAttemptAt: Date | null },
  ): Promise<void> {
    await this.prisma.webhookDelivery.updateMany({
      where: { id: delivery.id, leaseOwner: delivery.leaseOwner },
      data: {
        status: failure.nextAttemptAt ? 'pending' : 'failed',
        lastStatus: failure.status,
        lastError: failure.error.slice(0, 1000),
        ...(failure.nextAttemptAt && { nextAttemptAt: failure.nextAttemptAt }),
        leaseOwner: null,
        leaseUntil: null,
      },
    })
  }

  /**
   * An attempt the shutdown cut short: the lease is given back and the attempt not counted (the
   * receiver did not fail it), so the delivery is due again at once, for any instance, under the same
   * id. The receiver may have seen it: a duplicate, with the same webhook-id.
   */
  async giveBack(delivery: ClaimedDelivery): Promise<void> {
    await this.prisma.webhookDelivery.updateMany({
      where: { id: delivery.id, leaseOwner: delivery.leaseOwner },
      data: {
        attempts: { decrement: 1 },
        lastError: 'cut short: the instance delivering it shut down mid-attempt; due again at once',
        leaseOwner: null,
        leaseUntil: null,
      },
    })
  }

  /** 410 Gone: this delivery failed, and the endpoint is disabled with the reason; the rest wait for it to be enabled. */
  async gone(delivery: ClaimedDelivery, status: number): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.webhookDelivery.updateMany({
        where: { id: delivery.id, leaseOwner: delivery.leaseOwner },
        data: {
          status: 'failed',
          lastStatus: status,
          lastError: 'answered 410 Gone: the endpoint was disabled',
          leaseOwner: null,
          leaseUntil: null,
        },
      }),
      this.prisma.webhookEndpoint.update({
        where: { id: delivery.endpoint.id },
        data: {
          enabled: false,
          disabledReason: `the receiver answered 410 Gone at ${new Date().toISOString()}`,
          updatedAt: new Date(),
        },
      }),
    ])
  }

  async stats(): Promise<DeliveryQueueStats> {
    // A report over every pending delivery, with the database's clock.
    const [row] = await this.prisma.$queryRaw<{ due: number; oldest: number | null }[]>`
      SELECT (count(*) FILTER (WHERE d.next_attempt_at <= now() AND e.enabled
                                 AND (d.lease_until IS NULL OR d.lease_until < now())))::int AS due,
             extract(epoch FROM now() - min(d.created_at))::float8 AS oldest
        FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
       WHERE d.status = 'pending'`
    return { due: row?.due ?? 0, oldestUndeliveredSeconds: Math.max(0, row?.oldest ?? 0) }
  }
}
