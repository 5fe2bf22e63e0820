import { setTimeout as delay } from 'node:timers/promises'
import pg from 'pg'
import type { FlexEndpoint } from '../../src/flex/flex-errors.ts'
import type { FakeFlex, FakeLine } from '../helpers/fake-flex/fake-flex.ts'
import type { Cluster } from './cluster.ts'
import type { History } from './history.ts'
import type { Random } from './random.ts'
import { CREW_CALLS, HOT_USERS } from './scenario.ts'

/** The database faults hold locks longer than this, so the servers' lock and statement timeouts fire. */
export const LOCK_HOLD_MS = 1_500

interface Fault {
  kind: string
  /** Milliseconds between two injections: a random value in [low, high). */
  every: [number, number]
  /** Injects the fault once and says what it did (undefined: nothing to do this time). */
  inject(): Promise<string | undefined>
}

export interface FaultTargets {
  history: History
  random: Random
  cluster: Cluster
  flex: FakeFlex
  /** The servers' database; the injector connects as the URL's (super)user, as rostersync-chaos. */
  databaseUrl: string
}

const ENDPOINTS: FlexEndpoint[] = ['list', 'add', 'set-role', 'remove']

/**
 * The nemesis: each kind of fault on its own jittered schedule, every injection logged in the history.
 * - database: pg_terminate_backend on server connections inside a transaction; row locks held past
 *   the servers' lock_timeout / statement_timeout;
 * - Flex: 5xx answers, calls that hang until the client times out, adds that land after the client
 *   timed out, adds whose answer is lost (dropped, 500, never sent), crew lines deleted by hand, a technician booked twice by hand;
 * - processes: SIGKILL of a server while it has a sync in flight, then a restart on the same port.
 */
export class FaultInjector {
  private running = false
  private loops: Promise<void>[] = []
  /** One connection to terminate backends with, one to hold locks in (a transaction of its own). */
  private readonly killer: pg.Client
  private readonly locker: pg.Client
  readonly counts = new Map<string, number>()

  constructor(private readonly targets: FaultTargets) {
    const connect = () =>
      new pg.Client({ connectionString: targets.databaseUrl, application_name: 'rostersync-chaos' })
    this.killer = connect()
    this.locker = connect()
  }

  async start(): Promise<void> {
    await Promise.all([this.killer.connect(), this.locker.connect()])
    this.running = true
    this.loops = this.faults().map((fault) => this.loop(fault))
  }

  /** Stops injecting; waits for an injection under way (a restart) to finish. */
  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    await Promise.all([this.killer.end(), this.locker.end()])
  }

  private async loop(fault: Fault): Promise<void> {
    const { history, random } = this.targets
    while (this.running) {
      await delay(random.between(...fault.every))
      if (!this.running) return
      try {
        const detail = await fault.inject()
        if (detail === undefined) continue
        history.fault(fault.kind, detail)
        this.counts.set(fault.kind, (this.counts.get(fault.kind) ?? 0) + 1)
      } catch (error) {
        history.fault(`${fault.kind}-error`, (error as Error).message)
      }
    }
  }

  private faults(): Fault[] {
    const { random, flex, cluster } = this.targets
    const flexEndpoint = () => random.pick(ENDPOINTS)
    return [
      {
        kind: 'pg-terminate',
        every: [300, 900],
        inject: async () => {
          const { rows } = await this.killer.query<{ pid: number }>(
            `SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'rostersync' AND xact_start IS NOT NULL
              ORDER BY random() LIMIT 2`,
          )
          return rows.length === 0 ? undefined : `backends ${rows.map((r) => r.pid).join(', ')}`
        },
      },
      {
        kind: 'pg-lock-hold',
        every: [1_000, 2_500],
        inject: () => {
          if (random.next() < 0.5) {
            const userId = random.pick(HOT_USERS)
            return this.holdLock(
              'SELECT 1 FROM calendar_sets WHERE user_id = $1 FOR UPDATE',
              [userId],
              userId,
            )
          }
          const { jobId, department } = random.pick(CREW_CALLS)
          return this.holdLock(
            'SELECT 1 FROM crew_calls WHERE job_id = $1 AND department = $2 FOR UPDATE',
            [jobId, department],
            `${jobId}/${department}`,
          )
        },
      },
      {
        kind: 'flex-5xx',
        every: [300, 800],
        inject: async () => {
          const endpoint = flexEndpoint()
          const status = random.pick([500, 502, 503])
          flex.fail(endpoint, { status, times: 1 + random.int(2) })
          return `${endpoint} ${status}`
        },
      },
      {
        kind: 'flex-timeout',
        every: [1_000, 2_000],
        inject: async () => {
          const endpoint = flexEndpoint()
          flex.hang(endpoint)
          return endpoint
        },
      },
      {
        // A busy Flex: the add lands after the client gave up (FLEX_TIMEOUT_MS 1 s), so a listing
        // in between shows no line. Adding again would book the technician twice.
        kind: 'flex-add-lands-late',
        every: [1_000, 2_500],
        inject: async () => {
          const afterMs = 1_200 + random.int(800)
          flex.landAddLate(afterMs)
          return `${afterMs} ms`
        },
      },
      {
        kind: 'flex-lose-add-answer',
        every: [500, 1_500],
        inject: async () => {
          const how = random.pick(['drop', 'error', 'hang'] as const)
          flex.loseAddResponse(1, how)
          return how
        },
      },
      {
        kind: 'flex-delete-by-hand',
        every: [400, 1_000],
        inject: async () => {
          const found = this.randomLine()
          if (!found) return undefined
          flex.deleteLineByHand(found.line.id)
          return `line ${found.line.id} (${found.line.resourceId}) on ${found.elementId}`
        },
      },
      {
        kind: 'flex-book-twice-by-hand',
        every: [1_000, 3_000],
        inject: async () => {
          const found = this.randomLine()
          if (!found) return undefined
          const { elementId, line } = found
          return `line ${flex.addLineByHand(elementId, line.resourceId)} (${line.resourceId}) on ${elementId}`
        },
      },
      {
        kind: 'sigkill',
        every: [3_000, 6_000],
        inject: async () => {
          const server = await this.serverMidSync()
          await cluster.kill(server)
          await delay(200)
          await cluster.restart(server)
          return `server ${server}, restarted`
        },
      },
    ]
  }

  /** A random crew line in Flex, on a random crew call's element; undefined when that one has none. */
  private randomLine(): { elementId: string; line: FakeLine } | undefined {
    const { random, flex } = this.targets
    const { flexElementId } = random.pick(CREW_CALLS)
    const lines = flex.lines(flexElementId)
    return lines.length === 0 ? undefined : { elementId: flexElementId, line: random.pick(lines) }
  }

  /** A server with a sync request in flight, waiting up to a second for one; else any server. */
  private async serverMidSync(): Promise<number> {
    const { history, random, cluster } = this.targets
    for (let waited = 0; waited < 1_000; waited += 20) {
      const syncing = history.inFlight().filter((op) => op.kind.startsWith('sync'))
      if (syncing.length > 0) return random.pick(syncing).server
      await delay(20)
    }
    return random.int(cluster.size)
  }

  private async holdLock(sql: string, params: string[], what: string): Promise<string | undefined> {
    await this.locker.query('BEGIN')
    try {
      const { rowCount } = await this.locker.query(sql, params)
      if (rowCount === 0) return undefined
      await delay(LOCK_HOLD_MS)
      return `${what} for ${LOCK_HOLD_MS} ms`
    } finally {
      await this.locker.query('ROLLBACK')
    }
  }
}
