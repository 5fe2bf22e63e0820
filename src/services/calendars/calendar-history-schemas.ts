import { z } from 'zod'
import { versionQuerySchema, versionSchema } from '../../schemas/common.ts'
import { nextCursorSchema, pageQueryShape } from '../../schemas/pagination.ts'
import { calendarSchema } from './calendar-schemas.ts'

export const calendarsReadQuerySchema = z.strictObject({
  version: versionQuerySchema
    .optional()
    .describe('Read the set as it was at this version (404 version-pruned when it is no longer kept).'),
})

export const calendarHistoryQuerySchema = z.strictObject(pageQueryShape())

export type CalendarHistoryQuery = z.output<typeof calendarHistoryQuerySchema>

export const historyVersionSchema = z
  .object({
    version: versionSchema,
    changedAt: z.iso.datetime(),
    actor: z.string().describe('The credential that made it: `service:<key name>` or `user:<sub>`.'),
    requestId: z.string().nullable().describe('The x-request-id of the request that made it.'),
    changes: z.object({ created: z.number().int(), updated: z.number().int(), deleted: z.number().int() }),
    restoredFrom: versionSchema
      .nullable()
      .describe('The version a restore brought back; null for a replace.'),
  })
  .meta({ id: 'HistoryVersion' })

export type HistoryVersionView = z.output<typeof historyVersionSchema>

export const calendarHistoryPageSchema = z
  .object({
    userId: z.string(),
    versions: z.array(historyVersionSchema).describe('Newest first.'),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'CalendarHistoryPage' })

export type CalendarHistoryPage = z.output<typeof calendarHistoryPageSchema>

export const restoreCalendarsBodySchema = z
  .strictObject({ version: versionSchema.describe('The kept version to bring back, as a new version.') })
  .meta({ id: 'RestoreCalendars' })

export const calendarChangesQuerySchema = z.strictObject({
  since: versionQuerySchema.describe(
    'The version the client holds (the `version` of its last read or of the last changes answer).',
  ),
})

export const calendarChangesSchema = z
  .object({
    userId: z.string(),
    since: versionSchema,
    version: versionSchema.describe('The current version: the next `since`.'),
    created: z.array(calendarSchema).describe('In the set now, not at `since`.'),
    updated: z.array(calendarSchema).describe('In the set at `since` and now, changed (as they are now).'),
    deleted: z
      .array(z.object({ calendarId: z.string() }))
      .describe('In the set at `since`, not now (tombstones).'),
  })
  .meta({ id: 'CalendarChanges' })

export type CalendarChangesView = z.output<typeof calendarChangesSchema>
