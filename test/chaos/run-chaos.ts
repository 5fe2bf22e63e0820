import { writeFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import type { IntegrityReport } from '../../src/services/admin/integrity-schemas.ts'
import type { SyncRunView } from '../../src/services/sync/sync-schemas.ts'
import { type FakeFlex, type ResponseShape, startFakeFlex } from '../helpers/fake-flex/fake-flex.ts'
import type { ReceivedWebhook } from '../helpers/webhook-receiver.ts'
import { checkInvariants } from './checker.ts'
import { Cluster } from './cluster.ts'
import { FaultInjector } from './faults.ts'
import { crewCallKey, readCommittedVersions, readFinalState } from './final-state.ts'
import { History, type Operation } from './history.ts'
import { Random } from './random.ts'
import { BUSINESS_ROLES, CREW_CALLS, TECHNICIANS } from './scenario.ts'
import { settleWebhooks, startFaultyReceiver, WEBHOOK_ENV } from './webhooks.ts'
import { crewCallPath, type PlannedRequest, Workload } from './workload.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface ChaosOptions {
  /** Server processes, 2 or 3 (each gets other database timeouts, see serverEnv). */
  servers: number
  /** How long the load and the faults run. */
  durationMs: number
  clients: number
  seed: number
  /**
   * Clients never ask for a sync: the servers' reconcile workers (with short debounce and backoff)
   * must bring every crew call in sync on their own once the faults stop.
   */
  autonomous?: boolean
  /**
   * Where the history goes, one JSON object a line, with each server's log beside it
   * (<file>.server-<i>.log); not written when unset.
   */
  historyFile?: string
}

export interface ChaosReport {
  options: ChaosOptions
  violations: string[]
  /** The servers' error-level log lines (unexpected errors, answered 500), as `server <i>: <line>`. */
  serverErrors: string[]
  totals: {
    operations: number
    byKind: Record<string, Record<string, number>>
    statuses: Record<string, number>
    faults: Record<string, number>
    restarts: number
    /** The row shape the fake Flex answered in, picked by the seed. */
    flexShape: string
    /** Autonomous runs: seconds from the end of the faults until every crew call was in sync. */
    autonomousConvergenceSeconds?: number
    /** Sync requests the final convergence needed, for all crew calls. */
    finalSyncRequests: number
    /** Per server, the peak resident set size over all its lives. */
    peakRssMb: number[]
    /** What the faulty webhook receiver got (every event type), and how long the deliveries took to drain. */
    webhooks: {
      requests: number
      accepted: number
      /** Distinct calendar-set and roster events accepted, and the committed versions they must cover. */
      versionEvents: number
      committedVersions: number
      /** Events the receiver accepted more than once (the same webhook-id: at least once). */
      acceptedTwice: number
      settleSeconds: number
    }
    seconds: number
  }
}

/**
 * Shapes of Flex's row data a caller of real Flex must read (test/fixtures/flex/README.md); the seed
 * picks one per run, on top of the fake's defaults (UUID ids, the real add answer, a bare add refused).
 */
const FLEX_SHAPES: Partial<ResponseShape>[] = [
  {},
  { rowType: 'absent' },
  { kindSpelling: 'Contact' },
  { rowResource: 'contact-column', rowRole: 'business-role-column' },
  { nesting: 'container', rowType: 'absent' },
]

const SERVICE_KEY = 'chaos-service-key-0123456789'
const AUTHORIZATION = `Bearer ${SERVICE_KEY}`
const SETUP = -1

/**
 * The whole chaos run: real server processes on `databaseUrl` and a fake Flex; a load generator and a
 * fault injector side by side for `durationMs`; then quiet, every server up again, two syncs of every
 * crew call (the first converges, the second must find nothing to do), and the checker.
 */
export async function runChaos(
  t: Teardown,
  databaseUrl: string,
  options: ChaosOptions,
): Promise<ChaosReport> {
  const started = performance.now()
  const random = new Random(options.seed)
  const history = new History()
  const flexShape = random.pick(FLEX_SHAPES)
  const flex = await startFakeFlex({ latencyMs: 5, shape: flexShape })
  t.teardown(() => flex.close())
  const envs = Array.from({ length: options.servers }, (_, i) => ({
    ...serverEnv(i, databaseUrl, flex),
    ...(options.autonomous && AUTONOMOUS_ENV),
  }))
  const receiver = await startFaultyReceiver(t, random, history)
  const cluster = await Cluster.start(t, envs)
  const workload = new Workload(history, () => cluster.urls(), random, {
    clients: options.clients,
    requestTimeoutMs: 8_000,
    authorization: AUTHORIZATION,
    clientSyncs: !options.autonomous,
  })
  const webhookSecret = await registerReceiver(workload, receiver.url)
  await setUp(workload)

  const faults = new FaultInjector({ history, random, cluster, flex, databaseUrl })
  try {
    await faults.start()
    workload.start()
    await delay(options.durationMs)
    await Promise.all([workload.stop(), faults.stop()])
    flex.clearFaults()
    receiver.heal()
    const crashedServers = crashed(cluster)
    await cluster.restartStopped()

    const quiet = performance.now()
    const autonomousConvergenceSeconds = options.autonomous
      ? await inSyncOnTheirOwn(cluster.urls()[0] as string).then(() => (performance.now() - quiet) / 1000)
      : undefined
    const finalSyncRequests = await converge(workload, history)
    const secondSyncs = await syncEveryCrewCall(workload)
    // The outbox drains: retries (16 within about 11 s), a killed worker's lease (WEBHOOK_TIMEOUT_MS + 5 s).
    const settled = await settleWebhooks(databaseUrl)
    const committed = await readCommittedVersions(databaseUrl)
    const acknowledged = history.operations.flatMap((op): [string, number][] =>
      op.outcome === 'ok' && op.version !== undefined && op.register ? [[op.register, op.version]] : [],
    )
    const final = await readFinalState(databaseUrl, (element) => flex.lines(element), acknowledged)
    const integrity = await getIntegrity(cluster.urls()[0] as string)
    const violations = checkInvariants({
      operations: history.operations,
      final,
      integrity,
      secondSyncs,
      crashedServers,
      duplicateAdds: flex.duplicateAdds,
      webhooks: {
        secret: webhookSecret,
        received: receiver.received,
        committed,
        pending: settled.pending,
        failed: settled.failed,
      },
    })
    const operations = history.operations
    return {
      options,
      violations,
      serverErrors: errorLines(cluster),
      totals: {
        operations: operations.length,
        byKind: Object.fromEntries(
          [...new Set(operations.map((op) => op.kind))].map((kind) => [
            kind,
            countBy(
              operations.filter((op) => op.kind === kind),
              (op) => op.outcome ?? 'none',
            ),
          ]),
        ),
        statuses: countBy(operations, (op) => String(op.status ?? op.error)),
        faults: Object.fromEntries([...faults.counts, ...receiver.counts]),
        restarts: cluster.restarts,
        flexShape: JSON.stringify(flexShape),
        autonomousConvergenceSeconds,
        finalSyncRequests,
        peakRssMb: (await cluster.peakRssBytes()).map((bytes) => Math.round(bytes / 2 ** 20)),
        webhooks: webhookTotals(receiver.received, committed.size, settled.seconds),
        seconds: (performance.now() - started) / 1000,
      },
    }
  } finally {
    // Also when the run itself fails (no convergence, say): the history says what happened.
    if (options.historyFile) {
      await writeFile(options.historyFile, history.toJsonLines())
      for (let i = 0; i < cluster.size; i++)
        await writeFile(serverLog(options.historyFile, i), cluster.output(i))
    }
  }
}

/**
 * Server i's environment. Their database timeouts differ so that the held locks end in a lock
 * timeout on one, a statement timeout on another; leases and Flex timeouts are short so a killed
 * sync's lease lapses, and a hung Flex call gives up, within the run.
 */
function serverEnv(index: number, databaseUrl: string, flex: FakeFlex): Record<string, string> {
  const timeouts = [
    { DB_STATEMENT_TIMEOUT_MS: '1000', DB_LOCK_TIMEOUT_MS: '5000' },
    { DB_STATEMENT_TIMEOUT_MS: '5000', DB_LOCK_TIMEOUT_MS: '1000' },
    { DB_STATEMENT_TIMEOUT_MS: '1200', DB_LOCK_TIMEOUT_MS: '1000' },
  ][index % 3]
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    AUTH_SERVICE_KEYS: `chaos:${SERVICE_KEY}`,
    RATE_LIMIT_MAX: '1000000000',
    DB_POOL_MAX: '6',
    DB_CONNECT_TIMEOUT_MS: '2000',
    DB_TX_MAX_WAIT_MS: '2000',
    DB_TX_TIMEOUT_MS: '10000',
    FLEX_BASE_URL: flex.url,
    FLEX_AUTH_TOKEN: flex.token,
    FLEX_BUSINESS_ROLES: JSON.stringify(BUSINESS_ROLES),
    FLEX_TIMEOUT_MS: '1000',
    // A late add lands within 2 s here (flex-add-lands-late); real Flex gets the default minute.
    FLEX_ADD_DOUBT_MS: '3000',
    FLEX_MAX_ATTEMPTS: '2',
    FLEX_CONCURRENCY: '8',
    // The fake Flex has no rate limit; a minute of chaos makes thousands of calls.
    FLEX_CALLS_PER_HOUR: '10000000',
    FLEX_CALLS_PER_DAY: '100000000',
    SYNC_LEASE_MS: '2000',
    SYNC_WAIT_MS: '4000',
    ...WEBHOOK_ENV,
    ...timeouts,
  }
}

/** The faulty receiver as a webhook endpoint taking every event type; returns its secret. */
async function registerReceiver(workload: Workload, url: string): Promise<string> {
  const { op, body } = await workload.send(SETUP, 0, {
    kind: 'setup',
    method: 'POST',
    path: '/v1/webhook-endpoints',
    payload: { url, description: 'chaos receiver' },
  })
  if (op.outcome !== 'ok') throw new Error(`registering the webhook receiver: ${op.status ?? op.error}`)
  return (body as { secret: string }).secret
}

function webhookTotals(
  received: readonly ReceivedWebhook[],
  committedVersions: number,
  settleSeconds: number,
): ChaosReport['totals']['webhooks'] {
  const accepted = received.filter((r) => typeof r.answer === 'number' && r.answer >= 200 && r.answer < 300)
  const timesAccepted = new Map<string, number>()
  for (const r of accepted) {
    const { type } = JSON.parse(r.body) as { type: string }
    if (type === 'calendar-set.changed' || type === 'roster.changed')
      timesAccepted.set(r.id, (timesAccepted.get(r.id) ?? 0) + 1)
  }
  return {
    requests: received.length,
    accepted: accepted.length,
    versionEvents: timesAccepted.size,
    committedVersions,
    acceptedTwice: [...timesAccepted.values()].filter((n) => n > 1).length,
    settleSeconds,
  }
}

async function setUp(workload: Workload): Promise<void> {
  const must = async (request: PlannedRequest) => {
    const { op } = await workload.send(SETUP, 0, request)
    if (op.outcome !== 'ok')
      throw new Error(`set-up ${request.method} ${request.path}: ${op.status ?? op.error}`)
  }
  for (const { technicianId, flexResourceId } of TECHNICIANS) {
    await must({
      kind: 'setup',
      method: 'PUT',
      path: `/v1/technicians/${technicianId}`,
      payload: { name: technicianId, flexResourceId },
    })
  }
  for (const crewCall of CREW_CALLS) {
    await must({
      kind: 'setup',
      method: 'PUT',
      path: crewCallPath(crewCall),
      payload: { flexElementId: crewCall.flexElementId },
    })
  }
}

/** Schedule settings for autonomous runs: short enough that backoff ends within seconds. */
const AUTONOMOUS_ENV = {
  SYNC_WORKER: 'on',
  SYNC_POLL_MS: '100',
  SYNC_DEBOUNCE_MS: '200',
  SYNC_RETRY_BASE_MS: '200',
  SYNC_RETRY_MAX_MS: '2000',
  SYNC_MAX_ATTEMPTS: '1000',
  SYNC_RESYNC_INTERVAL_MS: '5000',
  // The nemesis SIGKILLs servers at random, not because a crew call's sync kills them: two kills during
  // one crew call's runs must not quarantine it (the quarantine has its own test, a run SIGKILLed twice).
  SYNC_MAX_CRASHES: '1000',
}
/** The bound on autonomous convergence once faults stop: the lease of a killed run, then backoff, many times over. */
const AUTONOMOUS_BOUND_MS = 60_000

/** Waits, without asking for any sync, until every crew call reports state in-sync. */
async function inSyncOnTheirOwn(url: string): Promise<void> {
  const deadline = Date.now() + AUTONOMOUS_BOUND_MS
  for (;;) {
    const states = await Promise.all(
      CREW_CALLS.map(async (crewCall) => {
        const response = await fetch(`${url}${crewCallPath(crewCall)}`, {
          headers: { authorization: AUTHORIZATION },
        }).catch(() => undefined)
        const body = response?.ok ? ((await response.json()) as { sync: { state: string } }) : undefined
        return `${crewCallKey(crewCall)}: ${body?.sync.state ?? `HTTP ${response?.status ?? 'none'}`}`
      }),
    )
    if (states.every((state) => state.endsWith(': in-sync'))) return
    if (Date.now() > deadline)
      throw new Error(
        `crew calls not in sync ${AUTONOMOUS_BOUND_MS} ms after the faults: ${states.join(', ')}`,
      )
    await delay(200)
  }
}

/** Syncs every crew call until a run succeeds (a crashed holder's lease lapses meanwhile); returns the requests sent. */
async function converge(workload: Workload, history: History): Promise<number> {
  const before = history.operations.length
  for (const crewCall of CREW_CALLS) {
    for (let attempt = 1; ; attempt++) {
      const { op, run } = await syncRequest(workload, crewCallPath(crewCall))
      if (run?.status === 'succeeded') break
      if (attempt === 10) {
        const last = run
          ? `${run.status}: ${JSON.stringify(run.errors).slice(0, 1_000)}`
          : `HTTP ${op.status ?? 'none'} ${op.error ?? ''}`
        throw new Error(`${crewCallKey(crewCall)} did not converge in 10 syncs; the last one: ${last}`)
      }
      await delay(500)
    }
  }
  return history.operations.length - before
}

async function syncEveryCrewCall(workload: Workload): Promise<Map<string, SyncRunView>> {
  const runs = new Map<string, SyncRunView>()
  for (const crewCall of CREW_CALLS) {
    const run = await syncOnce(workload, crewCallPath(crewCall))
    if (!run) throw new Error(`the second final sync of ${crewCallKey(crewCall)} failed`)
    runs.set(crewCallKey(crewCall), run)
  }
  return runs
}

/** One sync through a random server; its run, or undefined when the request failed. */
async function syncOnce(workload: Workload, path: string): Promise<SyncRunView | undefined> {
  return (await syncRequest(workload, path)).run
}

async function syncRequest(workload: Workload, path: string) {
  const { op, body } = await workload.send(SETUP, workload.randomServer(), {
    kind: 'sync-crew-call',
    method: 'POST',
    path: `${path}/sync`,
  })
  return { op, run: op.outcome === 'ok' ? (body as { run: SyncRunView }).run : undefined }
}

async function getIntegrity(url: string): Promise<IntegrityReport> {
  const response = await fetch(`${url}/v1/admin/integrity?checkFlex=true`, {
    headers: { authorization: AUTHORIZATION },
  })
  if (!response.ok) throw new Error(`GET /v1/admin/integrity: ${response.status} ${await response.text()}`)
  return (await response.json()) as IntegrityReport
}

function crashed(cluster: Cluster): number[] {
  return cluster.running().flatMap((running, index) => (running ? [] : [index]))
}

function errorLines(cluster: Cluster): string[] {
  return Array.from({ length: cluster.size }, (_, i) =>
    cluster
      .output(i)
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line))
      .map((line) => `server ${i}: ${line}`),
  ).flat()
}

/** Where server i's output is written beside the history: <history>.server-<i>.log. */
export const serverLog = (historyFile: string, index: number) => `${historyFile}.server-${index}.log`

function countBy(operations: Operation[], key: (op: Operation) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const op of operations) counts[key(op)] = (counts[key(op)] ?? 0) + 1
  return counts
}
