import { Prisma } from '../../db/prisma.ts'
import type { Tx } from '../../db/transaction.ts'
import type { Department } from '../../schemas/departments.ts'

/**
 * What Flex may hold beyond the lines crew_assignments records, for the deletes that must never leave
 * a Flex line without its row. A roster write drops a row at once and the sync removes its line later,
 * finding it by the technician's resource; deleting the crew call (nobody syncs its element again) or
 * the technician (their resource becomes an unknown contact, left alone) before that sync would leave
 * the line in Flex for good. Lines are made only by runs, and every finished run names the technicians
 * whose lines it found, added, repaired or adopted, or failed on; a successful run reconciled the whole
 * roster. So the runs since, and including, a crew call's last successful run name every line of
 * ours its element may hold. Reads; the caller holds the locks that keep the answer true until it commits.
 */

/** The runs of crew call `cc` since, and including, its last successful one, as `r`. */
const RUNS_SINCE_LAST_SUCCESS = Prisma.sql`sync_runs r
  WHERE r.crew_call_id = cc.id
    AND r.started_at >= coalesce((SELECT max(s.started_at) FROM sync_runs s
                                   WHERE s.crew_call_id = cc.id AND s.status = 'succeeded'), '-infinity')`

/** Whether the crew call's element may hold lines of ours, recorded or not (the roster's are checked apart). */
export async function flexMayHoldLinesOf(tx: Tx, crewCallId: string): Promise<boolean> {
  // Raw: array lengths and the errors' jsonb, since the last success (the typed client has no such
  // filter). A failed listing or a spent budget did nothing in Flex; any other error may have (an add
  // whose answer was lost, a remove that failed, an abandoned run).
  const [row] = await tx.$queryRaw<{ found: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM crew_calls cc, ${RUNS_SINCE_LAST_SUCCESS}
         AND (cardinality(r.added) + cardinality(r.repaired) + cardinality(r.adopted) + cardinality(r.unchanged) > 0
              OR EXISTS (SELECT 1 FROM jsonb_array_elements(r.errors) e
                          WHERE e ->> 'operation' NOT IN ('list', 'budget')))
         AND cc.id = ${crewCallId}::uuid) AS found`
  return row?.found ?? false
}

/**
 * The crew calls whose elements may still hold a line of the technician's that no row records: their
 * last runs named the technician, or a run of theirs was abandoned while their roster changed.
 */
export async function crewCallsThatMayHoldLinesOf(
  tx: Tx,
  technicianId: string,
  limit: number,
): Promise<{ jobId: string; department: Department }[]> {
  // Raw: membership in the runs' text arrays and the errors' jsonb, since each crew call's last success.
  return tx.$queryRaw<{ jobId: string; department: Department }[]>`
    SELECT cc.job_id AS "jobId", cc.department
      FROM crew_calls cc
     WHERE EXISTS (
       SELECT 1 FROM ${RUNS_SINCE_LAST_SUCCESS}
          AND (${technicianId} = ANY (r.added) OR ${technicianId} = ANY (r.repaired)
               OR ${technicianId} = ANY (r.adopted) OR ${technicianId} = ANY (r.unchanged)
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(r.errors) e
                           WHERE e ->> 'technicianId' = ${technicianId}
                              OR (e ->> 'operation' = 'run' AND cc.synced_version IS DISTINCT FROM cc.version))))
     ORDER BY cc.job_id, cc.department
     LIMIT ${limit}`
}

/**
 * Seconds until the latest lease of a running sync whose roster changed since it was last synced
 * lapses, or null when none runs: such a run may have read a roster the technician has left since, and
 * be about to add their line, with no row left to record it in.
 */
export async function runningSyncOfChangedRoster(tx: Tx): Promise<number | null> {
  // Raw: leases are judged by the database's clock, as SyncLeaseService takes them.
  const [row] = await tx.$queryRaw<{ seconds: number | null }[]>`
    SELECT ceil(extract(epoch FROM max(sync_lease_until) - now()))::int AS seconds
      FROM crew_calls
     WHERE sync_lease_until > now() AND synced_version IS DISTINCT FROM version`
  return row?.seconds ?? null
}
