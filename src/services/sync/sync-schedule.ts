import { Prisma, type PrismaClient } from '../../db/prisma.ts'
import type { Department } from '../../schemas/departments.ts'
import type { CrewCallView } from '../crew/crew-schemas.ts'
import type { SyncLostRuns } from './sync-lost-runs.ts'
import type { RunOutcome } from './sync-run-log.ts'
import type { SyncTrigger } from './sync-schemas.ts'
import { LAST_RUN, type SyncState, syncState, syncStateValues } from './sync-status.ts'

interface SyncScheduleOptions {
  /** Changes within this long of the first one lead to one run. */
  debounceMs: number
  /** Backoff after an unsuccessful run: full jitter below min(retryMaxMs, retryBaseMs * 2^(attempts-1)). */
  retryBaseMs: number
  retryMaxMs: number
  /** Unsuccessful runs in a row after which automatic runs stop until a change or a manual sync. */
  maxAttempts: number
  /** Every crew call with a roster is reconciled at least this often (0: never, but for changes). */
  resyncIntervalMs: number
  /** The sync lease a claim takes (SyncLeaseService takes the same one). */
  leaseMs: number
  /** Whether Flex is configured; without it crew calls not in sync are `not-configured`. */
  flexConfigured: boolean
}

/** A crew call a worker took under its sync lease, with why it is due and the roster version it saw. */
export interface ClaimedCrewCall {
  crewCall: CrewCallView
  trigger: Exclude<SyncTrigger, 'manual'>
  leaseToken: string
  rosterVersion: number
  /** The W3C traceparent of the roster change that made it due, when that change was traced. */
  changeTraceparent: string | null
}

/** A crew call a claim found lost with its process SYNC_MAX_CRASHES times, and quarantined. */
interface QuarantineEvent {
  crewCall: CrewCallView
  lostRuns: number
  reason: string
}

export interface ScheduleStats {
  /** Crew calls per state (every state present, 0 when none). */
  byState: Record<SyncState, number>
  /** Of the failed ones, those quarantined: their sync ended the process SYNC_MAX_CRASHES times in a row. */
  quarantined: number
  /** Crew calls due now and not running: the queue's depth. */
  due: number
  /** Seconds the oldest roster change not yet in Flex has waited; 0 when none waits. */
  oldestPendingSeconds: number
}

/**
 * When each crew call must be reconciled, kept level-triggered in its crew_calls row: due after a
 * change (debounced), after an unsuccessful run (jittered exponential backoff, or the retryAt Flex or
 * the call budget gave), for drift repair (every crew call with a roster at least every
 * resyncIntervalMs, each at its own phase so they spread), and whenever the roster version differs
 * from the one last synced. Workers take due crew calls with SKIP LOCKED under the same sync lease as
 * manual syncs, so one run per crew call runs at a time on any number of instances.
 */
export class SyncSchedule {
  constructor(
    private readonly prisma: PrismaClient,
    readonly options: SyncScheduleOptions,
    private readonly lostRuns: SyncLostRuns,
    /** Told when a claim quarantines a crew call (logs, metrics). */
    private readonly onQuarantine: (event: QuarantineEvent) => void = () => {},
  ) {}

  /**
   * Takes up to `max` of the most overdue crew calls in one statement, each under a new sync lease of
   * its own; fewer (none) when no more are due. The claim pushes sync_due_at one lease ahead: a worker
   * that dies mid-run leaves the crew call due again when its lease has lapsed. A run its last holder
   * left unfinished is settled first (SyncLostRuns): a crew call that has now ended its process
   * SYNC_MAX_CRASHES times is quarantined, not run, and another due one is taken in its place.
   */
  async claimDue(max: number): Promise<ClaimedCrewCall[]> {
    const taken: ClaimedCrewCall[] = []
    while (taken.length < max) {
      const wanted = max - taken.length
      const claimed = await this.claimNext(wanted)
      const settled = await Promise.all(
        claimed.map(async ({ claim, leftRunning }) => ({
          claim,
          // Only a claim that found a run left `running` has a lost run to settle: the common claim
          // goes to its run without another statement.
          verdict: leftRunning
            ? await this.lostRuns.settle(claim.crewCall.id, claim.leaseToken)
            : ({ lost: false } as const),
        })),
      )
      for (const { claim, verdict } of settled) {
        if (!verdict.lost || !verdict.quarantined) taken.push(claim)
        else {
          this.onQuarantine({
            crewCall: claim.crewCall,
            lostRuns: verdict.lostRuns,
            reason: this.lostRuns.reason,
          })
        }
      }
      if (claimed.length < wanted) break
    }
    return taken
  }

  /** Claims up to `max`, each with whether a run of its crew call was left `running` (a lost run). */
  private async claimNext(max: number): Promise<{ claim: ClaimedCrewCall; leftRunning: boolean }[]> {
    const { leaseMs } = this.options
    // SKIP LOCKED: workers on every instance take different crew calls and never wait on a roster write.
    // Each crew call gets a lease token of its own (gen_random_uuid() is evaluated per row).
    const rows = await this.prisma.$queryRaw<
      {
        id: string
        job_id: string
        department: Department
        flex_element_id: string
        version: number
        synced_version: number | null
        sync_attempts: number
        sync_change_traceparent: string | null
        sync_lease_owner: string
        left_running: boolean
      }[]
    >`
      UPDATE crew_calls cc
         SET sync_lease_owner = gen_random_uuid()::text,
             sync_lease_until = now() + ${leaseMs}::int * interval '1 millisecond',
             sync_due_at = now() + ${leaseMs}::int * interval '1 millisecond'
        FROM (SELECT id FROM crew_calls WHERE ${this.dueNow()}
               ORDER BY sync_due_at NULLS LAST LIMIT ${max}::int FOR UPDATE SKIP LOCKED) due
       WHERE cc.id = due.id
      RETURNING cc.id, cc.job_id, cc.department, cc.flex_element_id, cc.version, cc.synced_version, cc.sync_attempts,
                cc.sync_change_traceparent, cc.sync_lease_owner,
                EXISTS (SELECT 1 FROM sync_runs r WHERE r.crew_call_id = cc.id AND r.status = 'running') AS left_running`
    return rows.map((row) => ({
      claim: {
        crewCall: {
          id: row.id,
          jobId: row.job_id,
          department: row.department,
          flexElementId: row.flex_element_id,
        },
        trigger: row.sync_attempts > 0 ? 'retry' : row.synced_version !== row.version ? 'change' : 'resync',
        leaseToken: row.sync_lease_owner,
        rosterVersion: row.version,
        changeTraceparent: row.sync_change_traceparent,
      },
      leftRunning: row.left_running,
    }))
  }

  /** The roster version a run about to start reconciles (read before the run reads the roster). */
  async rosterVersion(crewCallId: string): Promise<number> {
    const crewCall = await this.prisma.crewCall.findUniqueOrThrow({
      where: { id: crewCallId },
      select: { version: true },
    })
    return crewCall.version
  }

  /** A manual sync re-arms a crew call that gave up: its attempts count from zero again. */
  async rearm(crewCallId: string): Promise<void> {
    await this.prisma.crewCall.update({
      where: { id: crewCallId },
      data: { syncAttempts: 0, syncFailedAt: null },
    })
  }

  /**
   * Records what a run means for the next one: a success marks `rosterVersion` synced; anything else
   * counts an attempt and schedules a retry (Flex's or the budget's retryAt, else jittered backoff),
   * or gives up after maxAttempts. A change that landed during the run keeps its own due time. The run
   * finished, so the process survived it: the crew call's lost runs count from 0 again. The run's sync
   * lease (`leaseToken`) is given back in the same statement, if it is still the run's.
   */
  async afterRun(
    crewCallId: string,
    rosterVersion: number,
    outcome: Pick<RunOutcome, 'status' | 'retryAt'>,
    leaseToken: string,
  ): Promise<void> {
    const ok = outcome.status === 'succeeded'
    const { maxAttempts, retryBaseMs, retryMaxMs, debounceMs } = this.options
    // One statement: the outcome is weighed against the row as it is now (a change may have landed).
    await this.prisma.$executeRaw`
      UPDATE crew_calls SET
        synced_version = CASE WHEN ${ok}::boolean THEN ${rosterVersion}::int ELSE synced_version END,
        last_synced_at = CASE WHEN ${ok}::boolean THEN now() ELSE last_synced_at END,
        sync_attempts = CASE WHEN ${ok}::boolean THEN 0 ELSE sync_attempts + 1 END,
        sync_lost_runs = 0,
        sync_failed_at = CASE WHEN NOT ${ok}::boolean AND sync_attempts + 1 >= ${maxAttempts}::int THEN now() END,
        sync_pending_since = CASE WHEN ${ok}::boolean AND version = ${rosterVersion}::int THEN NULL ELSE sync_pending_since END,
        sync_due_at = CASE
          WHEN version <> ${rosterVersion}::int THEN least(sync_due_at, now() + ${debounceMs}::int * interval '1 millisecond')
          WHEN ${ok}::boolean OR sync_attempts + 1 >= ${maxAttempts}::int THEN NULL
          ELSE coalesce(${outcome.retryAt}::timestamptz, now() + random()
                 * least(${retryMaxMs}::float8, ${retryBaseMs}::float8 * power(2, sync_attempts))
                 * interval '1 millisecond')
        END,
        sync_lease_owner = CASE WHEN sync_lease_owner = ${leaseToken} THEN NULL ELSE sync_lease_owner END,
        sync_lease_until = CASE WHEN sync_lease_owner = ${leaseToken} THEN NULL ELSE sync_lease_until END
       WHERE id = ${crewCallId}::uuid`
  }

  async stats(): Promise<ScheduleStats> {
    // Reports over every crew call: grouped by a computed state, which the typed client cannot do.
    const [states, [queue]] = await Promise.all([
      this.prisma.$queryRaw<{ state: SyncState; n: number }[]>`
        SELECT ${syncState(this.options.flexConfigured)} AS state, count(*)::int AS n FROM crew_calls cc ${LAST_RUN} GROUP BY 1`,
      this.prisma.$queryRaw<{ due: number; oldest: number | null; quarantined: number }[]>`
        SELECT (count(*) FILTER (WHERE ${this.dueNow()}))::int AS due,
               extract(epoch FROM now() - min(sync_pending_since))::float8 AS oldest,
               (count(*) FILTER (WHERE sync_failed_at IS NOT NULL
                  AND sync_lost_runs >= ${this.lostRuns.options.maxLostRuns}::int))::int AS quarantined
          FROM crew_calls`,
    ])
    const byState = Object.fromEntries(syncStateValues.map((state) => [state, 0])) as Record<
      SyncState,
      number
    >
    for (const { state, n } of states) byState[state] = n
    return {
      byState,
      quarantined: queue?.quarantined ?? 0,
      due: queue?.due ?? 0,
      oldestPendingSeconds: Math.max(0, queue?.oldest ?? 0),
    }
  }

  /**
   * How long from now until the next reconcile falls due that a worker may take (a debounced change, a
   * retry, a lease that lapses); undefined when none is scheduled. The resync of rosters that did not
   * change is not counted: polling finds it.
   */
  async nextDueInMs(): Promise<number | undefined> {
    const [row] = await this.prisma.$queryRaw<{ ms: number | null }[]>`
      SELECT (extract(epoch FROM min(greatest(sync_due_at, sync_lease_until)) - now()) * 1000)::float8 AS ms
        FROM crew_calls WHERE sync_failed_at IS NULL AND sync_due_at IS NOT NULL`
    return row?.ms == null ? undefined : Math.max(0, Math.ceil(row.ms))
  }

  /** Whether a crew_calls row (unaliased) is due for a reconcile now and nobody is running one. */
  private dueNow(): Prisma.Sql {
    const { resyncIntervalMs } = this.options
    return Prisma.sql`sync_failed_at IS NULL
      AND (sync_lease_until IS NULL OR sync_lease_until < now())
      AND (sync_due_at <= now()
           OR (sync_due_at IS NULL AND synced_version IS DISTINCT FROM version)
           OR (sync_due_at IS NULL AND ${resyncIntervalMs}::int > 0
               AND coalesce(last_synced_at, '-infinity') <= now() - ${resyncIntervalMs}::int * interval '1 millisecond'
                   * (0.5 + (abs(hashtext(crew_calls.id::text)) % 1000) / 2000.0)
               AND EXISTS (SELECT 1 FROM crew_assignments ca WHERE ca.crew_call_id = crew_calls.id)))`
  }
}
