import { setTimeout as delay } from 'node:timers/promises'
import { z } from 'zod'
import { toDomainError } from '../../db/database-errors.ts'
import { inSpan, traceHeaders } from '../../telemetry/tracing.ts'
import { signWebhook } from './signing.ts'
import type { ClaimedDelivery, WebhookDeliveryQueue } from './webhook-delivery-queue.ts'
import type { AttemptOutcome, WebhookSender } from './webhook-sender.ts'
import { webhookBody } from './webhook-types.ts'

interface WebhookDeliveryWorkerDeps {
  queue: Pick<WebhookDeliveryQueue, 'claim' | 'succeeded' | 'attemptFailed' | 'gone'>
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
 * Delivers the outbox, `concurrency` attempts at a time on this instance; every instance may run one.
 * Each attempt is signed afresh (its own webhook-timestamp) under the same webhook-id: the delivery's id.
 */
export class WebhookDeliveryWorker {
  private running: Promise<void>[] = []
  private stopping = false
  private wakeUp = new AbortController()
  private readonly random: () => number

  constructor(private readonly deps: WebhookDeliveryWorkerDeps) {
    this.random = deps.random ?? Math.random
  }

  start(): void {
    if (this.running.length > 0) return
    this.stopping = false
    this.running = Array.from({ length: this.deps.concurrency }, () => this.loop())
  }

  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void {
    this.wakeUp.abort()
    this.wakeUp = new AbortController()
  }

  /** Takes no more work and waits for the attempts in flight (each bounded by the timeout). */
  async stop(): Promise<void> {
    this.stopping = true
    this.wake()
    await Promise.all(this.running)
    this.running = []
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.stopping) {
      try {
        const delivery = await this.deps.queue.claim()
        failures = 0
        if (!delivery) {
          await this.idle(this.deps.pollMs)
          continue
        }
        await this.attempt(delivery)
      } catch (error) {
        failures++
        const transient = toDomainError(error)?.kind === 'service-unavailable'
        this.deps.log[transient ? 'warn' : 'error'](
          { err: error },
          'webhook worker: could not take or record a delivery; it stays due',
        )
        await this.idle(Math.min(30_000, this.deps.pollMs * 2 ** Math.min(failures, 6)))
      }
    }
  }

  /**
   * One attempt in a client span of its own (a trace per attempt: the delivery runs later than the
   * change, from the outbox), its traceparent sent to the receiver; a failed attempt writes one line.
   */
  private attempt(delivery: ClaimedDelivery): Promise<void> {
    const attributes = {
      'http.request.method': 'POST',
      'rostersync.webhook.id': delivery.id,
      'rostersync.webhook.event_type': delivery.event.type,
      'rostersync.webhook.endpoint_id': delivery.endpoint.id,
      'rostersync.webhook.attempt': delivery.attempt,
    }
    return inSpan('webhook POST', { kind: 'client', attributes }, async (span) => {
      const outcome = await this.send(delivery)
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

  private async send(delivery: ClaimedDelivery): Promise<AttemptOutcome> {
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
    return this.deps.sender.send({ url: delivery.endpoint.url, headers, body })
  }

  private async record(delivery: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const { type } = delivery.event
    if (outcome.kind === 'delivered') {
      await this.deps.queue.succeeded(delivery, outcome.status)
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
    await this.deps.queue.attemptFailed(delivery, { ...outcome, nextAttemptAt })
    this.deps.onAttempt?.(type, nextAttemptAt ? 'retrying' : 'failed')
  }

  /** After attempt n (1-based): the schedule's n-th delay jittered by up to 20%, or Retry-After when later. */
  private nextAttemptAt(attempt: number, retryAfterMs: number | null): Date | null {
    const scheduled = this.deps.retryScheduleMs[attempt]
    if (scheduled === undefined) return null
    const jittered = scheduled * (0.8 + 0.4 * this.random())
    return new Date(Date.now() + Math.max(jittered, retryAfterMs ?? 0))
  }

  private async idle(ms: number): Promise<void> {
    if (this.stopping) return
    await delay(ms, undefined, { signal: this.wakeUp.signal }).catch(() => {})
  }
}
