import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { WebhookDeliveryWorker } from '../services/webhooks/webhook-delivery-worker.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's webhook delivery workers; undefined when WEBHOOK_WORKER=off. */
    webhookWorker: WebhookDeliveryWorker | undefined
  }
}

/** The share of SHUTDOWN_TIMEOUT_MS the attempts in flight get once the app closes (after the drain). */
const CUT_SHORT_SHARE = 0.5

interface WebhookWorkerPluginOptions {
  config: Config
}

/**
 * Webhook delivery workers (WEBHOOK_WORKER, on by default): they start when the app is ready; when the
 * shutdown's drain begins they take no more work (as the reconcile workers do), and closing the app
 * waits for the attempts in flight (each within WEBHOOK_TIMEOUT_MS) for at most half of
 * SHUTDOWN_TIMEOUT_MS: an attempt still running then is cut short and its delivery given back,
 * due again at once, so the process exits within its bound and the event is delivered later under the
 * same webhook-id. What they send is what the outbox says is due, so any number of instances may run them.
 */
export default fp<WebhookWorkerPluginOptions>(
  async function webhookWorkerPlugin(app, { config }) {
    const { webhookDeliveries, webhookSender } = app.services
    const { metrics } = app
    const worker =
      config.WEBHOOK_WORKER === 'on'
        ? new WebhookDeliveryWorker({
            queue: webhookDeliveries,
            sender: webhookSender,
            retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS,
            concurrency: config.WEBHOOK_WORKER_CONCURRENCY,
            pollMs: config.WEBHOOK_POLL_MS,
            onAttempt: (type, outcome) => metrics.webhookDeliveries.inc({ type, outcome }),
            log: app.log,
          })
        : undefined
    app.decorate('webhookWorker', worker)
    if (!worker) return
    app.addHook('onReady', async () => worker.start())
    app.drain.onBegin(() => worker.stopClaiming())
    // The other half of SHUTDOWN_TIMEOUT_MS is for giving cut-short deliveries back and closing the pool.
    app.addHook('preClose', async () => {
      await worker.stop({ cutShortAfterMs: Math.floor(config.SHUTDOWN_TIMEOUT_MS * CUT_SHORT_SHARE) })
      webhookSender.close()
    })
  },
  { name: 'webhook-worker', dependencies: ['services', 'drain'] },
)
