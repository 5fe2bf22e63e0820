/**
 * A crew call's sync status as the crew services read it (syncStatusColumns joined with LAST_RUN,
 * then toSyncStatus) and arm it after a roster change (scheduleAfterChange). It is the sync domain's
 * read model: the crew services import it, it imports nothing of crew (imports point down, crew ->
 * sync-status), and the SyncSchedule, the metrics and the integrity report count states with it.
 */
import { z } from 'zod'
import { Prisma } from '../../db/prisma.ts'
import {
  boundedMessage,
  countSchema,
  messageSchema,
  timestampSchema,
  uuidSchema,
  versionSchema,
} from '../../schemas/common.ts'

export const syncStateValues = [
  'in-sync',
  'pending',
  'running',
  'retrying',
  'deferred',
  'failed',
  'not-configured',
] as const
export type SyncState = (typeof syncStateValues)[number]

export const crewCallSyncSchema = z
  .object({
    state: z
      .enum(syncStateValues)
      .describe(
        'in-sync: Flex holds the roster as last synced; pending: a change waits for its run; running; ' +
          'retrying: the last run did not succeed and another is scheduled; deferred: the Flex call budget ' +
          'or a 429 put it off; failed: SYNC_MAX_ATTEMPTS runs in a row did not succeed (or SYNC_MAX_CRASHES ' +
          'ended their process: see lostRuns), and only a roster ' +
          'change or a manual sync starts another; not-configured: Flex is not configured (FLEX_BASE_URL, ' +
          'FLEX_AUTH_TOKEN), so no run will happen until it is and the service restarts.',
      ),
    rosterVersion: versionSchema,
    syncedVersion: versionSchema
      .nullable()
      .describe('The roster version the last successful run reconciled.'),
    attempts: countSchema().describe('Runs in a row that did not succeed.'),
    lostRuns: countSchema().describe(
      'Runs in a row lost with their process (it died mid-run and its lease lapsed). At SYNC_MAX_CRASHES ' +
        'the crew call is quarantined: failed, lastError saying its sync ended the process, until a roster ' +
        'change or a manual sync re-arms it.',
    ),
    lastRunId: uuidSchema().nullable(),
    lastError: messageSchema().nullable().describe("The last run's first error, when it did not succeed."),
    nextAttemptAt: timestampSchema().nullable().describe('When the next automatic run is due, if one is.'),
  })
  .meta({ id: 'CrewCallSync' })

type CrewCallSyncView = z.output<typeof crewCallSyncSchema>

/**
 * The SET clause a crew call's upsert adds to its row (the SQL function mark_roster_changed, a migration,
 * writes the same for every roster change), in the change's own transaction: a
 * reconcile is due within `debounceMs` (a burst of changes shares it), the change is pending from now
 * (unless one already was), and a crew call that gave up is re-armed.
 */
export function scheduleAfterChange(debounceMs: number): Prisma.Sql {
  // Qualified: in an INSERT's ON CONFLICT DO UPDATE, `excluded` has these columns too.
  return Prisma.sql`sync_due_at = least(crew_calls.sync_due_at, now() + ${debounceMs}::int * interval '1 millisecond'),
    sync_pending_since = coalesce(crew_calls.sync_pending_since, now()), sync_attempts = 0, sync_failed_at = NULL`
}

/**
 * A crew call's sync state, from its row and its last run (aliases cc and last). Without Flex
 * configured nothing will ever run a sync, so every crew call not in sync is `not-configured`.
 */
export const syncState = (flexConfigured: boolean) => Prisma.sql`CASE
    WHEN cc.synced_version IS NOT DISTINCT FROM cc.version AND cc.sync_due_at IS NULL
         AND cc.sync_failed_at IS NULL AND cc.sync_attempts = 0 AND NOT ${flexConfigured}::boolean THEN 'in-sync'
    WHEN NOT ${flexConfigured}::boolean THEN 'not-configured'
    WHEN cc.sync_lease_until > now() THEN 'running'
    WHEN cc.sync_failed_at IS NOT NULL THEN 'failed'
    WHEN cc.sync_attempts > 0 AND last.status = 'deferred' THEN 'deferred'
    WHEN cc.sync_attempts > 0 THEN 'retrying'
    WHEN cc.synced_version IS DISTINCT FROM cc.version OR cc.sync_due_at IS NOT NULL THEN 'pending'
    ELSE 'in-sync' END`

/** The last run of crew call `cc`, as `last`. */
export const LAST_RUN = Prisma.sql`LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.errors, r.started_at FROM sync_runs r WHERE r.crew_call_id = cc.id
     ORDER BY r.started_at DESC, r.id DESC LIMIT 1) last ON true`

/** The columns toSyncStatus reads, from crew call `cc` and its LAST_RUN. */
export const syncStatusColumns = (
  flexConfigured: boolean,
) => Prisma.sql`${syncState(flexConfigured)} AS sync_state, cc.version AS sync_roster_version,
  cc.synced_version, cc.sync_attempts, cc.sync_lost_runs, cc.sync_due_at, last.id AS last_run_id,
  last.status AS last_run_status, last.errors AS last_run_errors`

export interface SyncStatusRow {
  sync_state: SyncState
  sync_roster_version: number
  synced_version: number | null
  sync_attempts: number
  sync_lost_runs: number
  sync_due_at: Date | null
  last_run_id: string | null
  last_run_status: string | null
  last_run_errors: { message: string }[] | null
}

const boundedOrNull = (message: string | undefined) =>
  message === undefined ? null : boundedMessage(message)

export function toSyncStatus(row: SyncStatusRow): CrewCallSyncView {
  const failedLast = row.last_run_status !== null && row.last_run_status !== 'succeeded'
  return {
    state: row.sync_state,
    rosterVersion: row.sync_roster_version,
    syncedVersion: row.synced_version,
    attempts: row.sync_attempts,
    lostRuns: row.sync_lost_runs,
    lastRunId: row.last_run_id,
    lastError: failedLast ? boundedOrNull(row.last_run_errors?.[0]?.message) : null,
    // Nothing runs without Flex: no time is promised (the due time is kept for when Flex is configured).
    nextAttemptAt: row.sync_state === 'not-configured' ? null : (row.sync_due_at?.toISOString() ?? null),
  }
}
