import { Prisma, type PrismaClient } from '../../db/prisma.ts'
import { closedAsFailed } from './sync-run-log.ts'

interface SyncLostRunsOptions {
  /** Lost runs in a row after which a crew call is quarantined (SYNC_MAX_CRASHES). */
  maxLostRuns: number
}

/** What settle() found of the runs a crew call's last holders never finished. */
type LostRunsVerdict =
  /** None: the last run finished (or none ran). */
  | { lost: false }
  /** One, now closed as failed and counted; `quarantined` when that made SYNC_MAX_CRASHES in a row. */
  | { lost: true; lostRuns: number; quarantined: boolean }

interface QuarantinedCrewCall {
  jobId: string
  department: string
  lostRuns: number
  quarantinedAt: Date
  /** The last lost run, closed with the reason. */
  runId: string | null
}

/** "once", "twice", "3 times": how many times a crew call's sync ended its process. */
export function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`
}

/**
 * A dead-letter for crew calls whose sync kills its worker (in the spirit of SQS's redrive policy): a
 * run a worker claimed and never finished (the process died, e.g. out of memory, and its lease lapsed
 * with the run still `running`) is a lost run. The next claim of the crew call closes it and counts it,
 * in one statement; after maxLostRuns in a row the crew call is `failed` and no worker claims it again
 * until a roster change or a manual sync re-arms it, so one poison crew call cannot visit every
 * instance in turn. A run that finishes, whatever its outcome, sets the count back to 0
 * (SyncSchedule.afterRun).
 */
export class SyncLostRuns {
  readonly reason: string

  constructor(
    private readonly prisma: PrismaClient,
    readonly options: SyncLostRunsOptions,
  ) {
    this.reason =
      `its sync ended the process ${times(options.maxLostRuns)}: quarantined, no automatic run until ` +
      'a roster change or a manual sync re-arms it (find the cause in the logs of the instances that died first)'
  }

  /**
   * Called by the holder of a fresh claim (`leaseToken`), before it runs anything: closes the run
   * the previous holder left `running`, counts it, and quarantines the crew call at maxLostRuns, its
   * lease given back.
   */
  async settle(crewCallId: string, leaseToken: string): Promise<LostRunsVerdict> {
    const { maxLostRuns } = this.options
    const lostMessage = `lost: the process running it ended before it finished (a lost run; ${maxLostRuns} in a row quarantine the crew call)`
    // One statement, so a lost run is closed and counted together or not at all: a holder that dies
    // here leaves it to the next claim, never counted twice. App clock for the run's end, as its start.
    const now = new Date()
    const [row] = await this.prisma.$queryRaw<{ sync_lost_runs: number; quarantined: boolean }[]>`
      WITH lost AS (
        UPDATE sync_runs r
           SET ${closedAsFailed(
             now,
             Prisma.sql`CASE WHEN cc.sync_lost_runs + 1 >= ${maxLostRuns}::int THEN ${this.reason} ELSE ${lostMessage} END`,
           )}
          FROM crew_calls cc
         WHERE cc.id = ${crewCallId}::uuid AND cc.sync_lease_owner = ${leaseToken}
           AND r.crew_call_id = cc.id AND r.status = 'running'
        RETURNING r.id)
      UPDATE crew_calls SET
        sync_lost_runs = sync_lost_runs + 1,
        sync_failed_at = CASE WHEN sync_lost_runs + 1 >= ${maxLostRuns}::int THEN now() ELSE sync_failed_at END,
        sync_due_at = CASE WHEN sync_lost_runs + 1 >= ${maxLostRuns}::int THEN NULL ELSE sync_due_at END,
        sync_lease_owner = CASE WHEN sync_lost_runs + 1 >= ${maxLostRuns}::int THEN NULL ELSE sync_lease_owner END,
        sync_lease_until = CASE WHEN sync_lost_runs + 1 >= ${maxLostRuns}::int THEN NULL ELSE sync_lease_until END
       WHERE id = ${crewCallId}::uuid AND sync_lease_owner = ${leaseToken} AND EXISTS (SELECT 1 FROM lost)
      RETURNING sync_lost_runs, sync_lost_runs >= ${maxLostRuns}::int AS quarantined`
    if (!row) return { lost: false }
    return { lost: true, lostRuns: row.sync_lost_runs, quarantined: row.quarantined }
  }

  /** Crew calls quarantined now (failed with maxLostRuns or more lost runs in a row), oldest first. */
  async quarantined(): Promise<QuarantinedCrewCall[]> {
    const crewCalls = await this.prisma.crewCall.findMany({
      where: { syncFailedAt: { not: null }, syncLostRuns: { gte: this.options.maxLostRuns } },
      select: {
        jobId: true,
        department: true,
        syncLostRuns: true,
        syncFailedAt: true,
        syncRuns: { select: { id: true }, orderBy: [{ startedAt: 'desc' }, { id: 'desc' }], take: 1 },
      },
      orderBy: [{ syncFailedAt: 'asc' }, { jobId: 'asc' }, { department: 'asc' }],
    })
    return crewCalls.map((crewCall) => ({
      jobId: crewCall.jobId,
      department: crewCall.department,
      lostRuns: crewCall.syncLostRuns,
      quarantinedAt: crewCall.syncFailedAt as Date,
      runId: crewCall.syncRuns[0]?.id ?? null,
    }))
  }
}
