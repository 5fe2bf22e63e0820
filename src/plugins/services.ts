import fp from 'fastify-plugin'
import { type Config, flexSettings } from '../config.ts'
import { BodyStatements } from '../db/body-statement.ts'
import { createTransactionRunner, transactionOptionsFrom } from '../db/transaction.ts'
import { FlexClient, type FlexClientOptions, type FlexPort } from '../flex/flex-client.ts'
import { IntegrityService } from '../services/admin/integrity-service.ts'
import { CalendarHistoryService } from '../services/calendars/calendar-history-service.ts'
import { CalendarService } from '../services/calendars/calendar-service.ts'
import { CrewCallListService } from '../services/crew/crew-call-list-service.ts'
import { CrewCallService } from '../services/crew/crew-call-service.ts'
import { RosterHistoryService } from '../services/crew/roster-history-service.ts'
import { RosterService } from '../services/crew/roster-service.ts'
import { TechnicianService } from '../services/crew/technician-service.ts'
import { startHistoryPruning } from '../services/history/history-pruning.ts'
import { IdempotencyService } from '../services/idempotency/idempotency-service.ts'
import { FlexCallBudget } from '../services/sync/flex-call-budget.ts'
import { FlexReconciler } from '../services/sync/flex-reconciler.ts'
import { SyncLeaseService } from '../services/sync/sync-lease-service.ts'
import { SyncLostRuns } from '../services/sync/sync-lost-runs.ts'
import { SyncRunLog } from '../services/sync/sync-run-log.ts'
import { SyncSchedule } from '../services/sync/sync-schedule.ts'
import { SyncService } from '../services/sync/sync-service.ts'
import { SyncStatusService } from '../services/sync/sync-status-service.ts'
import { type ResolveHost, SsrfGuard } from '../services/webhooks/ssrf-guard.ts'
import { WebhookDeliveryQueue } from '../services/webhooks/webhook-delivery-queue.ts'
import { WebhookEndpointService } from '../services/webhooks/webhook-endpoint-service.ts'
import { WebhookOutbox } from '../services/webhooks/webhook-outbox.ts'
import { WebhookSender } from '../services/webhooks/webhook-sender.ts'

export interface Services {
  calendars: CalendarService
  calendarHistory: CalendarHistoryService
  rosterHistory: RosterHistoryService
  technicians: TechnicianService
  crewCalls: CrewCallService
  /** Every crew call across jobs with its sync state (the operator console's list). */
  crewCallList: CrewCallListService
  rosters: RosterService
  sync: SyncService
  /** When each crew call is due for a reconcile; workers (plugins/sync-worker-lifecycle.ts) take due ones. */
  schedule: SyncSchedule
  /** The queue per sync state and the Flex call budget. */
  syncStatus: SyncStatusService
  integrity: IntegrityService
  idempotency: IdempotencyService
  webhookEndpoints: WebhookEndpointService
  /** The outbox's deliveries; workers (plugins/webhook-worker.ts) claim due ones. */
  webhookDeliveries: WebhookDeliveryQueue
  /** The outbox's retention: delivered events pruned by the history pruning loop. */
  webhookOutbox: WebhookOutbox
  /** Makes one delivery attempt, through the SSRF guard. */
  webhookSender: WebhookSender
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
  }
}

interface ServicesPluginOptions {
  config: Config
  /** Replaces individual services, e.g. to inject faults in tests. */
  overrides?: Partial<Services>
  /** Replaces the Flex client (tests wrap the real one to observe or break calls). */
  flex?: FlexPort
  /** Resolves webhook hosts for the SSRF guard (tests give a fake DNS); node:dns otherwise. */
  resolveHost?: ResolveHost
}

/** The composition root: every service is built here, from the app's database and config. */
export default fp<ServicesPluginOptions>(
  async function servicesPlugin(app, { config, overrides, flex, resolveHost }) {
    const { prisma, pool } = app.db
    // The one hook of the keyed-write path (docs/api.md, Idempotency): the request's Idempotency-Key,
    // taken by its write. Looked up per call, so an overridden service is the one asked.
    const currentKey = () => app.services.idempotency.currentKey()
    const runInTransaction = createTransactionRunner(prisma, {
      ...transactionOptionsFrom(config),
      participant: () => currentKey()?.forTransaction(),
    })
    const syncDebounceMs = config.SYNC_DEBOUNCE_MS
    const historyOptions = { keepVersions: config.HISTORY_KEEP_VERSIONS, keepDays: config.HISTORY_KEEP_DAYS }
    const flexConfigured = flex !== undefined || flexSettings(config) !== undefined
    const crewCalls = new CrewCallService({ prisma, runInTransaction, syncDebounceMs, flexConfigured })
    const { metrics } = app
    const lostRuns = new SyncLostRuns(prisma, { maxLostRuns: config.SYNC_MAX_CRASHES })
    const schedule = new SyncSchedule(
      prisma,
      {
        debounceMs: syncDebounceMs,
        retryBaseMs: config.SYNC_RETRY_BASE_MS,
        retryMaxMs: config.SYNC_RETRY_MAX_MS,
        maxAttempts: config.SYNC_MAX_ATTEMPTS,
        resyncIntervalMs: config.SYNC_RESYNC_INTERVAL_MS,
        leaseMs: config.SYNC_LEASE_MS,
        flexConfigured,
      },
      lostRuns,
      ({ crewCall, lostRuns: lost, reason }) => {
        metrics.syncQuarantines.inc()
        app.log.error(
          { crewCallId: crewCall.id, jobId: crewCall.jobId, department: crewCall.department, lostRuns: lost },
          `crew call quarantined: ${reason}`,
        )
      },
    )
    const flexClient =
      flex ??
      createFlexClient(config, (call) =>
        metrics.flexCalls.inc({ endpoint: call.endpoint, outcome: call.outcome }),
      )
    const budget = new FlexCallBudget(prisma, {
      perHour: config.FLEX_CALLS_PER_HOUR,
      perDay: config.FLEX_CALLS_PER_DAY,
    })
    metrics.observeFlexBudget(() => budget.usage())
    metrics.observeSyncSchedule(() => schedule.stats())
    const webhookGuard = new SsrfGuard({
      allowPrivateNetworks: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
      resolve: resolveHost,
    })
    const webhookDeliveries = new WebhookDeliveryQueue(prisma, {
      // An attempt ends within the timeout; the slack covers recording its outcome.
      leaseMs: config.WEBHOOK_TIMEOUT_MS + 5_000,
      perEndpoint: config.WEBHOOK_ENDPOINT_CONCURRENCY,
    })
    metrics.observeWebhookQueue(() => webhookDeliveries.stats())
    app.decorate('services', {
      calendarHistory: new CalendarHistoryService(prisma, historyOptions),
      rosterHistory: new RosterHistoryService(prisma, historyOptions),
      calendars: new CalendarService({ prisma, bodyStatements: new BodyStatements(pool), currentKey }),
      technicians: new TechnicianService({ prisma, runInTransaction }),
      crewCalls,
      crewCallList: new CrewCallListService(prisma, flexConfigured),
      rosters: new RosterService({
        prisma,
        runInTransaction,
        syncDebounceMs,
        flexConfigured,
        currentKey,
        onSyncDue: (dueInMs) => app.syncWorker?.wake(dueInMs),
      }),
      schedule,
      syncStatus: new SyncStatusService({ schedule, budget, flexConfigured }),
      sync: new SyncService({
        crewCalls,
        schedule,
        leases: new SyncLeaseService(prisma, { leaseMs: config.SYNC_LEASE_MS, waitMs: config.SYNC_WAIT_MS }),
        runLog: new SyncRunLog(prisma),
        log: app.log,
        onRunFinished: (run) => {
          metrics.syncRuns.inc({ status: run.status, trigger: run.trigger })
          if (run.durationMs !== null) metrics.syncDuration.observe(run.durationMs / 1000)
        },
        reconciler:
          flexClient &&
          new FlexReconciler({
            prisma,
            flex: flexClient,
            concurrency: config.FLEX_CONCURRENCY,
            businessRoles: config.FLEX_BUSINESS_ROLES,
            budget,
            addDoubtMs: config.FLEX_ADD_DOUBT_MS,
            addTimeoutMs: config.FLEX_TIMEOUT_MS,
          }),
      }),
      integrity: new IntegrityService({
        prisma,
        flex: flexClient,
        budget,
        schedule,
        lostRuns,
        webhookProblems: () => app.services.webhookEndpoints.problems(),
      }),
      webhookEndpoints: new WebhookEndpointService({
        prisma,
        guard: webhookGuard,
        secretOverlapMs: config.WEBHOOK_SECRET_OVERLAP_MS,
        onDue: () => app.webhookWorker?.wake(),
      }),
      webhookDeliveries,
      webhookOutbox: new WebhookOutbox(prisma, {
        keepDays: config.WEBHOOK_KEEP_DAYS ?? config.HISTORY_KEEP_DAYS,
      }),
      webhookSender: new WebhookSender({ guard: webhookGuard, timeoutMs: config.WEBHOOK_TIMEOUT_MS }),
      idempotency: new IdempotencyService({
        prisma,
        ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
        leaseMs: config.IDEMPOTENCY_LEASE_MS,
        responseWaitMs: config.DB_TX_TIMEOUT_MS,
        log: app.log,
      }),
      ...overrides,
    })
    const stopPurging = app.services.idempotency.startPurging(config.IDEMPOTENCY_PURGE_INTERVAL_MS)
    app.addHook('preClose', stopPurging)
    const { calendarHistory, rosterHistory, webhookOutbox } = app.services
    const stopPruning = startHistoryPruning(
      config.HISTORY_PRUNE_INTERVAL_MS,
      [() => calendarHistory.prune(), () => rosterHistory.prune(), () => webhookOutbox.prune()],
      (error) => app.log.warn({ err: error }, 'could not prune history'),
    )
    app.addHook('preClose', stopPruning)
  },
  { name: 'services', dependencies: ['database', 'metrics'] },
)

function createFlexClient(config: Config, onCall: FlexClientOptions['onCall']): FlexClient | undefined {
  const settings = flexSettings(config)
  if (!settings) return undefined
  return new FlexClient({
    ...settings,
    timeoutMs: config.FLEX_TIMEOUT_MS,
    maxAnswerBytes: config.FLEX_MAX_ANSWER_BYTES,
    maxAttempts: config.FLEX_MAX_ATTEMPTS,
    onCall,
  })
}
