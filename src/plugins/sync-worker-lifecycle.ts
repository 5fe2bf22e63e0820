import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { SyncWorker } from '../services/sync/sync-worker.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's reconcile workers; undefined when SYNC_WORKER=off or Flex is not configured. */
    syncWorker: SyncWorker | undefined
  }
}

interface SyncWorkerPluginOptions {
  config: Config
}

/**
 * Reconcile workers (SYNC_WORKER, on by default when Flex is configured): they start when the app is
 * ready; when the shutdown's drain begins they take no more work, and closing the app waits for the
 * reconciles in flight to finish. What they run
 * is what the schedule says is due, so any number of instances may run them.
 */
export default fp<SyncWorkerPluginOptions>(
  async function syncWorkerLifecycle(app, { config }) {
    const { schedule, sync } = app.services
    const enabled = config.SYNC_WORKER === 'on' && sync.canSync
    const worker = enabled
      ? new SyncWorker({
          claimDue: () => schedule.claimDue(),
          runClaimed: (claimed) => sync.runClaimed(claimed),
          concurrency: config.SYNC_WORKER_CONCURRENCY,
          pollMs: config.SYNC_POLL_MS,
          log: app.log,
        })
      : undefined
    app.decorate('syncWorker', worker)
    if (!worker) return
    app.addHook('onReady', async () => worker.start())
    // The drain gives the reconciles in flight its whole length, and then SHUTDOWN_TIMEOUT_MS, to end.
    app.drain.onBegin(() => worker.stopClaiming())
    app.addHook('preClose', async () => worker.stop())
  },
  { name: 'sync-worker-lifecycle', dependencies: ['services', 'drain'] },
)
