import type { PrismaClient } from '../../db/prisma.ts'
import { pruneInBatches } from '../history-versions.ts'

export interface WebhookOutboxOptions {
  /** WEBHOOK_KEEP_DAYS (HISTORY_KEEP_DAYS when unset): how long a delivered event is kept. */
  keepDays: number
  /** Rows deleted per statement; 1,000 by default. */
  pruneBatch?: number
}

/**
 * The outbox's retention: deliveries that succeeded more than keepDays ago, and events older than that
 * with no delivery left, are pruned in bounded batches (prune_webhook_outbox) by the history pruning
 * loop. Pending and failed deliveries stay, however old, until they are delivered or their endpoint is
 * deleted.
 */
export class WebhookOutbox {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: WebhookOutboxOptions,
  ) {}

  /** Deletes what is no longer kept, in batches, until none is left; returns how many rows went. */
  prune(maxBatches = 10): Promise<number> {
    return pruneInBatches(
      async (batchSize) => {
        // The database must decide: which events are left without a delivery is known only there.
        const [row] = await this.prisma.$queryRaw<{ pruned: number }[]>`
          SELECT prune_webhook_outbox(${this.options.keepDays}::int, ${batchSize}::int) AS pruned`
        return row?.pruned ?? 0
      },
      this.options.pruneBatch ?? 1000,
      maxBatches,
    )
  }
}
