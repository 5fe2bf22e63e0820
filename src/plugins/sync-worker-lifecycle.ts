import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { NotificationListener } from '../db/notification-listener.ts'
import { parseSyncDueNotice, SYNC_DUE_CHANNEL } from '../services/sync/sync-due-notice.ts'
import { SyncWorker } from '../services/sync/sync-worker.ts'

/** How long the listener waits before connecting again after its connection was lost. */
const LISTEN_RECONNECT_MS = 1_000

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's reconcile workers; undefined when SYNC_WORKER=off or Flex is not configured. */
    syncWorker: SyncWorker | undefined
    /** The LISTEN connection that wakes them on other instances' roster changes; undefined with SYNC_LISTEN=off. */
    syncDueListener: NotificationListener | undefined
  }
}

interface SyncWorkerPluginOptions {
  config: Config
}

/**
 * Reconcile workers (SYNC_WORKER, on by default when Flex is configured) and, with SYNC_LISTEN=on, the
 * LISTEN connection that wakes them when a roster change on any instance falls due: they start when the app is
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
          claimDue: (max) => schedule.claimDue(max),
          runClaimed: (claimed) => sync.runClaimed(claimed),
          concurrency: config.SYNC_WORKER_CONCURRENCY,
          nextDueInMs: () => schedule.nextDueInMs(),
          pollMs: config.SYNC_POLL_MS,
          log: app.log,
        })
      : undefined
    const listener =
      worker && config.SYNC_LISTEN === 'on' && config.DATABASE_URL
        ? new NotificationListener({
            connectionString: config.DATABASE_URL,
            channel: SYNC_DUE_CHANNEL,
            // A change on any instance (this one included): wake when its reconcile falls due.
            onNotification: (payload) => {
              const notice = parseSyncDueNotice(payload)
              worker.wake(notice?.dueInMs ?? 0)
            },
            // Listening (again): what was sent while not listening is lost, so look now.
            onListening: () => worker.wake(),
            connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
            reconnectMs: LISTEN_RECONNECT_MS,
            log: app.log,
          })
        : undefined
    app.decorate('syncWorker', worker)
    app.decorate('syncDueListener', listener)
    if (!worker) return
    app.addHook('onReady', async () => {
      listener?.start()
      worker.start()
    })
    // The drain gives the reconciles in flight its whole length, and then SHUTDOWN_TIMEOUT_MS, to end.
    app.drain.onBegin(() => worker.stopClaiming())
    app.addHook('preClose', async () => {
      await listener?.stop()
      await worker.stop()
    })
  },
  { name: 'sync-worker-lifecycle', dependencies: ['services', 'drain'] },
)
