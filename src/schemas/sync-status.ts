import { z } from 'zod'
import { countSchema } from './common.ts'
import { type SyncState, syncStateValues } from './crew.ts'

/** How the reconcile queue and the shared Flex call budget stand (GET /v1/sync-status). */
export const syncStatusSchema = z
  .object({
    flexConfigured: z
      .boolean()
      .describe('False when FLEX_BASE_URL or FLEX_AUTH_TOKEN is unset: no sync runs.'),
    crewCallsBySyncState: z
      .object(
        // One property per state (not a record keyed by an enum): the document lists them.
        Object.fromEntries(syncStateValues.map((state) => [state, countSchema()])) as Record<
          SyncState,
          ReturnType<typeof countSchema>
        >,
      )
      .describe('Crew calls per sync state; `failed` ones wait for a roster change or a manual sync.'),
    due: countSchema().describe('Crew calls due for a reconcile now and not running: the queue depth.'),
    oldestPendingChangeSeconds: z
      .number()
      .min(0)
      .describe('How long the oldest roster change not yet in Flex has waited; 0 when none waits.'),
    flexCalls: z
      .object({
        perHour: countSchema().describe('FLEX_CALLS_PER_HOUR: calls all instances may make in any hour.'),
        perDay: countSchema().describe('FLEX_CALLS_PER_DAY: the same over any 24 hours.'),
        usedLastHour: countSchema(),
        usedLastDay: countSchema(),
        leftThisHour: countSchema(),
        leftToday: countSchema(),
      })
      .describe('The shared Flex call budget: used and left over the sliding hour and day.'),
  })
  .meta({ id: 'SyncStatus' })

export type SyncStatusView = z.output<typeof syncStatusSchema>
