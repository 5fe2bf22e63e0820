import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { WebhookDeliveryWorker } from '../services/webhooks/webhook-delivery-worker.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's webhook delivery workers; undefined when WEBHOOK_WORKER=off. */
    webhookWorker: WebhookDeliveryWorker | undefined
  }
}

interface WebhookWorkerPluginOptions {
  config: Config
}

/**
 * Webhook delivery workers (WEBHOOK_WORKER, on by default): they start when the app is ready and, when it
 * closes, take no more work and let the attempts in flight finish (each within WEBHOOK_TIMEOUT_MS). What
 * they send is what the outbox says is due, so any number of instances may run them.
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
    app.addHook('preClose', async () => worker.stop())
  },
  { name: 'webhook-worker', dependencies: ['services'] },
)
