import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../../db/prisma.ts'
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

/** What became of an attempt, to be recorded. */
export type RecordedOutcome =
  | { delivered: true; status: number }
  /** Due again at nextAttemptAt; failed for good when it is null. */
  | { delivered: false; status: number | null; error: string; nextAttemptAt: Date | null }

interface UnrecordedAttempt {
  attempt: {
    id: string
    owner: string
    delivered: boolean
    status: number | null
    error: string | null
    nextAttemptAt: string | null
  }
  resolve: () => void
  reject: (error: unknown) => void
}

/** The deliveries of the outbox, claimed by workers on every instance (FOR UPDATE SKIP LOCKED). */
export class WebhookDeliveryQueue {
  /** Attempts that ended and wait for the record being written to finish. */
  private readonly unrecorded: UnrecordedAttempt[] = []
  /** The records being written, while they are. */
  private recording: Promise<void> | undefined

  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: WebhookDeliveryQueueOptions,
  ) {}

  /**
   * Takes up to `max` claimable deliveries under one new lease and counts their attempts; none when none
   * is claimable. Each endpoint gives at most perEndpoint less its deliveries in flight on every instance;
   * the events of one resource go out in version order as far as retries allow (claim_webhook_deliveries).
   */
  async claim(max: number): Promise<ClaimedDelivery[]> {
    const owner = randomUUID()
    const { leaseMs, perEndpoint } = this.options
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
    >`SELECT * FROM claim_webhook_deliveries(${max}::int, ${perEndpoint}::int, ${leaseMs}::int, ${owner}::uuid)`
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

  /**
   * Records what became of an attempt, as its lease holder: delivered, due again at `nextAttemptAt`, or
   * `failed` for good when that is null; the lease is released. The attempts that end while a record is
   * being written are written together by the next one (one statement at a time per instance,
   * record_webhook_attempts), so a busy instance writes one statement for many attempts.
   */
  record(delivery: ClaimedDelivery, outcome: RecordedOutcome): Promise<void> {
    return new Promise((resolve, reject) => {
      this.unrecorded.push({
        attempt: {
          id: delivery.id,
          owner: delivery.leaseOwner,
          delivered: outcome.delivered,
          status: outcome.status,
          error: outcome.delivered ? null : outcome.error.slice(0, 1000),
          nextAttemptAt: outcome.delivered ? null : (outcome.nextAttemptAt?.toISOString() ?? null),
        },
        resolve,
        reject,
      })
      this.recording ??= this.writeRecords()
    })
  }

  private async writeRecords(): Promise<void> {
    while (this.unrecorded.length > 0) {
      const batch = this.unrecorded.splice(0)
      try {
        const attempts = JSON.stringify(batch.map((waiting) => waiting.attempt))
        await this.prisma.$executeRaw`SELECT record_webhook_attempts(${attempts}::jsonb)`
        for (const waiting of batch) waiting.resolve()
      } catch (error) {
        for (const waiting of batch) waiting.reject(error)
      }
    }
    this.recording = undefined
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
