/**
 * Where each table goes on Citus (docs/scaling.md explains each choice): distributed in a colocation
 * group by a column, a reference table copied to every node, or a plain table kept on the coordinator.
 * Nothing at run time reads this; test/db/citus-readiness.test.ts holds the migrated schema to it, so a
 * new table must be placed here and a new key or foreign key must fit its table's place.
 */

const COLOCATION_GROUPS = {
  /** A user's calendar set, its calendars and their history: every request names one user. */
  user: 'user_id',
  /** A crew call, its roster, history, sync runs and doubts: every roster write and sync is one crew call. */
  crew_call: 'crew_call_id',
} as const

type ColocationGroup = keyof typeof COLOCATION_GROUPS

export type TablePlacement =
  | { role: 'distributed'; group: ColocationGroup; column: string }
  | { role: 'reference' }
  | { role: 'coordinator' }

const inGroup = (group: ColocationGroup, column: string = COLOCATION_GROUPS[group]): TablePlacement => ({
  role: 'distributed',
  group,
  column,
})

export const TABLE_PLACEMENTS: Record<string, TablePlacement> = {
  calendar_sets: inGroup('user'),
  managed_calendars: inGroup('user'),
  calendar_versions: inGroup('user'),
  crew_calls: inGroup('crew_call', 'id'),
  crew_assignments: inGroup('crew_call'),
  roster_versions: inGroup('crew_call'),
  roster_changes: inGroup('crew_call'),
  sync_runs: inGroup('crew_call'),
  flex_add_doubts: inGroup('crew_call'),
  /** Few rows, read by every roster write (unknown technicians are refused) and by every sync. */
  technicians: { role: 'reference' },
  /** One budget for every instance, serialized by one lock: it stays one table on the coordinator. */
  flex_call_reservations: { role: 'coordinator' },
  /**
   * The webhook outbox: events recorded by triggers on the changed tables, fanned out to deliveries
   * that workers claim with SKIP LOCKED across every endpoint. One ordered outbox and one claim: they
   * stay on the coordinator (docs/scaling.md says what the triggers need on Citus).
   */
  webhook_endpoints: { role: 'coordinator' },
  webhook_events: { role: 'coordinator' },
  webhook_deliveries: { role: 'coordinator' },
  // Distributed by its tenant (the user of a calendar write); crew writes' keys get a table of their own
  // in the crew_call group on the port (migration 20261206130002_idempotency_key_in_the_write).
  idempotency_keys: inGroup('user', 'tenant'),
  _prisma_migrations: { role: 'coordinator' },
}

/**
 * Keys that do not hold their group's distribution column yet, each with why and what the port does
 * about it. The readiness test fails when one of these is no longer needed, so the list only shrinks.
 */
export const KEYS_WITHOUT_DISTRIBUTION_COLUMN: Record<string, string> = {
  crew_calls_job_id_department_key:
    "(job_id, department) is the API's name of a crew call and cannot hold its id; on Citus it moves to a " +
    'lookup table on the coordinator (crew_call_keys), written when a crew call is created or moved ' +
    '(an extra insert: not free on one node, so it is part of the port)',
  crew_calls_flex_element_id_key:
    "one Flex element per crew call, checked across crew calls; on Citus it moves to the coordinator's " +
    'lookup table with the (job_id, department) key',
}
