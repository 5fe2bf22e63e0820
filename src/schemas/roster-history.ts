import { z } from 'zod'
import { historyVersionSchema } from './calendar-history.ts'
import { storedId, storedText, versionQuerySchema, versionSchema } from './common.ts'
import { departmentSchema, MAX_ROLE_LENGTH, MAX_ROSTER_SIZE } from './crew.ts'
import { MAX_PAGE_SIZE, nextCursorSchema, pageQueryShape } from './pagination.ts'

export const rosterReadQuerySchema = z.strictObject({
  version: versionQuerySchema
    .optional()
    .describe(
      'Read the roster as it was at this version (404 version-pruned when no longer kept); its lines in Flex ' +
        'are not part of the history, so flexLineItemId and syncedAt are null then.',
    ),
})

export const rosterHistoryQuerySchema = z.strictObject(pageQueryShape())

export const rosterHistoryPageSchema = z
  .object({
    jobId: storedId(),
    department: departmentSchema,
    versions: z.array(historyVersionSchema).max(MAX_PAGE_SIZE).describe('Newest first.'),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'RosterHistoryPage' })

export type RosterHistoryPage = z.output<typeof rosterHistoryPageSchema>

export const restoreRosterBodySchema = z
  .strictObject({ version: versionSchema.describe('The kept version to bring back, as a new version.') })
  .meta({ id: 'RestoreRoster' })

export const rosterChangesQuerySchema = z.strictObject({
  since: versionQuerySchema.describe('The roster version the client holds.'),
})

const historyAssignmentSchema = z
  .object({ technicianId: storedId(), role: storedText(MAX_ROLE_LENGTH).nullable() })
  .meta({ id: 'HistoryAssignment' })

export const rosterChangesSchema = z
  .object({
    since: versionSchema,
    version: versionSchema.describe('The current version: the next `since`.'),
    created: z
      .array(historyAssignmentSchema)
      .max(MAX_ROSTER_SIZE)
      .describe('On the roster now, not at `since`.'),
    updated: z
      .array(historyAssignmentSchema)
      .max(MAX_ROSTER_SIZE)
      .describe('On it at `since` and now, with another role (as now).'),
    deleted: z
      .array(z.object({ technicianId: storedId() }))
      .max(MAX_ROSTER_SIZE)
      .describe('On it at `since`, not now (tombstones).'),
  })
  .meta({ id: 'RosterChanges' })

export type RosterChangesView = z.output<typeof rosterChangesSchema>
