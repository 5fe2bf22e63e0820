import { z } from 'zod'
import { inSpan, traceHeaders } from '../../telemetry/tracing.ts'
import { type ClaimedWork, ClaimLoop } from '../../workers/claim-loop.ts'
import { signWebhook } from './signing.ts'
import type { ClaimedDelivery, WebhookDeliveryQueue } from './webhook-delivery-queue.ts'
import type { AttemptOutcome, WebhookSender } from './webhook-sender.ts'
import { webhookBody } from './webhook-types.ts'

interface WebhookDeliveryWorkerDeps {
  queue: Pick<WebhookDeliveryQueue, 'claim' | 'record' | 'gone' | 'giveBack'>
  sender: Pick<WebhookSender, 'send'>
  /** WEBHOOK_RETRY_SCHEDULE_MS: the delay before each attempt; its length is the number of attempts. */
  retryScheduleMs: readonly number[]
  /** Deliveries this instance makes at once. */
  concurrency: number
  pollMs: number
  onAttempt?: (type: string, outcome: 'delivered' | 'retrying' | 'failed' | 'gone') => void
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
  random?: () => number
}

/**
 * How long after an attempt ends the worker claims for the slots freed meanwhile, while other attempts
 * are in flight: the attempts that end together share one claim (measured: CPU per delivery about a
 * fifth lower, bench/webhook-cost.ts), at the price of up to this much latency under load.
 */
const REGROUP_MS = 5

/**
 * Delivers the outbox, `concurrency` attempts at a time on this instance; every instance may run one.
 * Each attempt is signed afresh (its own webhook-timestamp) under the same webhook-id: the delivery's id.
 * The loop is the shared ClaimLoop (src/workers/claim-loop.ts): stopClaiming() when the shutdown's
 * drain begins, stop() when the app closes; an attempt the shutdown cuts short gives its delivery back,
 * due again at once (for another instance, or this one's next start) under the same webhook-id.
 */
export class WebhookDeliveryWorker {
  private readonly loop: ClaimLoop<ClaimedDelivery>
  private readonly random: () => number

  constructor(private readonly deps: WebhookDeliveryWorkerDeps) {
    this.random = deps.random ?? Math.random
    this.loop = new ClaimLoop<ClaimedDelivery>({
      // One statement claims for every free slot (a backlog is taken a slot-full at a time).
      claim: (max) => deps.queue.claim(max),
      run: (claimed) => this.attempt(claimed),
      concurrency: deps.concurrency,
      pollMs: deps.pollMs,
      regroupMs: REGROUP_MS,
      failureMessage: 'webhook worker: could not take or record a delivery; it stays due',
      log: deps.log,
    })
  }

  start(): void {
    this.loop.start()
  }

  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void {
    this.loop.wake()
  }

  /** Takes no more work (the shutdown's drain begins); the attempts in flight go on, and stop() awaits them. */
  stopClaiming(): void {
    this.loop.stopClaiming()
  }

  /**
   * Takes no more work and waits for the attempts in flight (each bounded by the timeout). With
   * `cutShortAfterMs`, an attempt still running that long from now is aborted and its delivery given
   * back, due at once, so a shutdown bounded by SHUTDOWN_TIMEOUT_MS still exits cleanly and the
   * delivery is made later (at least once, the same webhook-id).
   */
  async stop(options: { cutShortAfterMs?: number } = {}): Promise<void> {
    await this.loop.stop(options)
  }

  /**
   * One attempt in a client span of its own (a trace per attempt: the delivery runs later than the
   * change, from the outbox), its traceparent sent to the receiver; a failed attempt writes one line.
   */
  private attempt({ work: delivery, signal }: ClaimedWork<ClaimedDelivery>): Promise<void> {
    const attributes = {
      'http.request.method': 'POST',
      'rostersync.webhook.id': delivery.id,
      'rostersync.webhook.event_type': delivery.event.type,
      'rostersync.webhook.endpoint_id': delivery.endpoint.id,
      'rostersync.webhook.attempt': delivery.attempt,
    }
    return inSpan('webhook POST', { kind: 'client', attributes }, async (span) => {
      const outcome = await this.send(delivery, signal)
      if (signal.aborted && outcome.kind === 'failed') {
        // Cut short by the shutdown, not the receiver's fault: the delivery is due again at once.
        span.fail('network', 'cut short: the instance shut down mid-attempt')
        this.deps.log.warn(
          { webhook: { id: delivery.id, endpointId: delivery.endpoint.id, attempt: delivery.attempt } },
          'webhook delivery cut short by the shutdown: given back, due again at once',
        )
        await this.deps.queue.giveBack(delivery)
        return
      }
      span.setAttributes({
        'http.response.status_code': outcome.status ?? undefined,
        'rostersync.webhook.outcome': outcome.kind,
      })
      if (outcome.kind === 'failed') {
        span.fail(outcome.status === null ? 'network' : 'http', outcome.error)
        this.deps.log.warn(
          {
            webhook: {
              id: delivery.id,
              endpointId: delivery.endpoint.id,
              eventType: delivery.event.type,
              attempt: delivery.attempt,
              status: outcome.status,
            },
          },
          `webhook delivery failed (attempt ${delivery.attempt}, ${delivery.event.type}): ${outcome.error}`,
        )
      }
      await this.record(delivery, outcome)
    })
  }

  private async send(delivery: ClaimedDelivery, signal: AbortSignal): Promise<AttemptOutcome> {
    const now = new Date()
    let body: string
    try {
      body = webhookBody(delivery.event.type, delivery.event.occurredAt, delivery.event.data)
    } catch (error) {
      const detail = error instanceof z.ZodError ? z.prettifyError(error) : (error as Error).message
      return {
        kind: 'failed',
        status: null,
        error: `the event does not match its schema: ${detail}`,
        retryAfterMs: null,
      }
    }
    const headers = {
      'webhook-id': delivery.id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signWebhook(delivery.endpoint.secrets, delivery.id, now, body),
      'user-agent': 'rostersync-webhooks',
      ...traceHeaders(),
    }
    return this.deps.sender.send({ url: delivery.endpoint.url, headers, body, signal })
  }

  private async record(delivery: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const { type } = delivery.event
    if (outcome.kind === 'delivered') {
      await this.deps.queue.record(delivery, { delivered: true, status: outcome.status })
      this.deps.onAttempt?.(type, 'delivered')
      return
    }
    if (outcome.kind === 'gone') {
      await this.deps.queue.gone(delivery, outcome.status)
      this.deps.onAttempt?.(type, 'gone')
      this.deps.log.warn({ endpointId: delivery.endpoint.id }, 'webhook endpoint answered 410 Gone: disabled')
      return
    }
    const nextAttemptAt = this.nextAttemptAt(delivery.attempt, outcome.retryAfterMs)
    await this.deps.queue.record(delivery, {
      delivered: false,
      status: outcome.status,
      error: outcome.error,
      nextAttemptAt,
    })
    this.deps.onAttempt?.(type, nextAttemptAt ? 'retrying' : 'failed')
  }

  /** After attempt n (1-based): the schedule's n-th delay jittered by up to 20%, or Retry-After when later. */
  private nextAttemptAt(attempt: number, retryAfterMs: number | null): Date | null {
    const scheduled = this.deps.retryScheduleMs[attempt]
    if (scheduled === undefined) return null
    const jittered = scheduled * (0.8 + 0.4 * this.random())
    return new Date(Date.now() + Math.max(jittered, retryAfterMs ?? 0))
  }
}
