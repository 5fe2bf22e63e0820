import { z } from 'zod'
import { queryBoolean } from '../../schemas/common.ts'
import { type SyncState, syncStateValues } from '../sync/sync-status.ts'

export const integrityQuerySchema = z.strictObject({
  checkFlex: queryBoolean('Also read Flex and list recorded crew lines it no longer has.'),
})

export const integrityReportSchema = z
  .object({
    duplicates: z
      .array(z.object({ key: z.string(), groups: z.number().int().describe('Should be 0.') }))
      .describe('For every natural key, how many values occur more than once.'),
    missingFlexLines: z
      .array(
        z.object({
          jobId: z.string(),
          department: z.string(),
          technicianId: z.string(),
          flexLineItemId: z.string(),
        }),
      )
      .nullable()
      .describe(
        'Crew lines recorded here that Flex no longer has; null unless checkFlex=true. The next sync repairs them.',
      ),
    crewCallsWhoseLastSyncFailed: z.array(
      z.object({
        jobId: z.string(),
        department: z.string(),
        runId: z.string(),
        finishedAt: z.iso.datetime().nullable(),
      }),
    ),
    crewCallsQuarantined: z
      .array(
        z.object({
          jobId: z.string(),
          department: z.string(),
          lostRuns: z.number().int().describe('Runs in a row lost with their process.'),
          quarantinedAt: z.iso.datetime(),
          runId: z.uuid().nullable().describe('The last lost run, closed with the reason.'),
          reason: z.string(),
        }),
      )
      .describe(
        'Crew calls whose sync ended the process SYNC_MAX_CRASHES times in a row (runs claimed and never ' +
          'finished): failed, and claimed by no worker until a roster change or a manual sync re-arms them.',
      ),
    crewCallsBySyncState: z
      .object(
        // An object with one property per state (not a record keyed by an enum): the document lists them.
        Object.fromEntries(syncStateValues.map((state) => [state, z.number().int()])) as Record<
          SyncState,
          z.ZodNumber
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
      runs: z.number().int(),
      failed: z.number().int(),
      failureRate: z.number().min(0).max(1),
      meanDurationMs: z.number().int().nullable(),
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
