import { z } from 'zod'
import { countSchema, messageSchema, queryBoolean, storedId, timestampSchema, uuidSchema } from './common.ts'
import { departmentSchema, type SyncState, syncStateValues } from './crew.ts'

/**
 * The longest lists of the report. Duplicates: one entry per natural key checked (a handful). The crew
 * call lists and the missing lines are cut at MAX_REPORT_ITEMS (IntegrityService), so one report stays
 * bounded however many crew calls are in trouble: fix those, and the next report shows the rest.
 */
export const MAX_NATURAL_KEYS = 16
export const MAX_NATURAL_KEY_LENGTH = 64
export const MAX_REPORT_ITEMS = 1000

export const integrityQuerySchema = z.strictObject({
  checkFlex: queryBoolean('Also read Flex and list recorded crew lines it no longer has.'),
})

export const integrityReportSchema = z
  .object({
    duplicates: z
      .array(
        z.object({
          key: z.string().max(MAX_NATURAL_KEY_LENGTH),
          groups: countSchema().describe('Should be 0.'),
        }),
      )
      .max(MAX_NATURAL_KEYS)
      .describe('For every natural key, how many values occur more than once.'),
    missingFlexLines: z
      .array(
        z.object({
          jobId: storedId(),
          department: departmentSchema,
          technicianId: storedId(),
          flexLineItemId: storedId(),
        }),
      )
      .max(MAX_REPORT_ITEMS)
      .nullable()
      .describe(
        'Crew lines recorded here that Flex no longer has; null unless checkFlex=true. The next sync repairs them.',
      ),
    crewCallsWhoseLastSyncFailed: z
      .array(
        z.object({
          jobId: storedId(),
          department: departmentSchema,
          runId: uuidSchema(),
          finishedAt: timestampSchema().nullable(),
        }),
      )
      .max(MAX_REPORT_ITEMS),
    crewCallsQuarantined: z
      .array(
        z.object({
          jobId: storedId(),
          department: departmentSchema,
          lostRuns: countSchema().describe('Runs in a row lost with their process.'),
          quarantinedAt: timestampSchema(),
          runId: uuidSchema().nullable().describe('The last lost run, closed with the reason.'),
          reason: messageSchema(),
        }),
      )
      .max(MAX_REPORT_ITEMS)
      .describe(
        'Crew calls whose sync ended the process SYNC_MAX_CRASHES times in a row (runs claimed and never ' +
          'finished): failed, and claimed by no worker until a roster change or a manual sync re-arms them.',
      ),
    crewCallsBySyncState: z
      .object(
        // An object with one property per state (not a record keyed by an enum): the document lists them.
        Object.fromEntries(syncStateValues.map((state) => [state, countSchema()])) as Record<
          SyncState,
          ReturnType<typeof countSchema>
        >,
      )
      .describe('Crew calls per sync state; `failed` ones wait for a roster change or a manual sync.'),
    oldestPendingChangeSeconds: z
      .number()
      .min(0)
      .describe(
        'How long the oldest roster change not yet reconciled with Flex has waited; 0 when none waits.',
      ),
    syncsLast24h: z.object({
      runs: countSchema(),
      failed: countSchema(),
      failureRate: z.number().min(0).max(1),
      meanDurationMs: countSchema().nullable(),
    }),
    webhooks: z
      .object({
        endpointsDisabled: z
          .number()
          .int()
          .describe('Endpoints disabled (by a 410 from the receiver, or by hand): they receive nothing.'),
        deliveriesFailed: z
          .number()
          .int()
          .describe(
            'Deliveries that failed their last attempt: retry them by hand once the receiver is back.',
          ),
      })
      .describe('Webhooks that need attention.'),
  })
  .meta({ id: 'IntegrityReport' })

export type IntegrityReport = z.output<typeof integrityReportSchema>
