import { z } from 'zod'
import { syncStateValues } from './crew.ts'
import { crewCallSummarySchema } from './crew-lists.ts'
import { MAX_PAGE_SIZE, nextCursorSchema, pageQueryShape } from './pagination.ts'

/** Every crew call across jobs, newest activity first (GET /v1/crew-calls), paginated like /v1/sync-runs. */

export const allCrewCallsQuerySchema = z.strictObject({
  state: z.enum(syncStateValues).optional().describe('Only crew calls in this sync state.'),
  ...pageQueryShape(),
})

export type AllCrewCallsQuery = z.output<typeof allCrewCallsQuerySchema>

export const allCrewCallsPageSchema = z
  .object({
    crewCalls: z
      .array(crewCallSummarySchema)
      .max(MAX_PAGE_SIZE)
      .describe(
        'Newest activity first: by the start of their last sync run (their creation when never synced), ' +
          'then id; so with `state=failed` the newest failure comes first.',
      ),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'AllCrewCallsPage' })

export type AllCrewCallsPage = z.output<typeof allCrewCallsPageSchema>
