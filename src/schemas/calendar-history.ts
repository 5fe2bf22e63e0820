import { z } from 'zod'
import { calendarSchema, MAX_CALENDARS_PER_SET } from './calendars.ts'
import {
  countSchema,
  MAX_ID_LENGTH,
  storedId,
  storedText,
  timestampSchema,
  versionQuerySchema,
  versionSchema,
} from './common.ts'
import { MAX_PAGE_SIZE, nextCursorSchema, pageQueryShape } from './pagination.ts'

/**
 * The longest actor: `service:<key name>` or `user:<sub>` with the sub (at most MAX_ID_LENGTH characters)
 * URI-encoded, 9 characters per UTF-16 unit at most (a 3-byte UTF-8 character as %XX%XX%XX).
 */
export const MAX_ACTOR_LENGTH = 'service:'.length + 9 * MAX_ID_LENGTH
/** x-request-id: the caller's token of up to 128 characters, or a generated UUID. */
export const MAX_REQUEST_ID_LENGTH = 128

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
    changedAt: timestampSchema(),
    actor: storedText(MAX_ACTOR_LENGTH).describe(
      'The credential that made it: `service:<key name>` or `user:<sub>`.',
    ),
    requestId: storedText(MAX_REQUEST_ID_LENGTH)
      .nullable()
      .describe('The x-request-id of the request that made it.'),
    changes: z.object({ created: countSchema(), updated: countSchema(), deleted: countSchema() }),
    restoredFrom: versionSchema
      .nullable()
      .describe('The version a restore brought back; null for a replace.'),
  })
  .meta({ id: 'HistoryVersion' })

export type HistoryVersionView = z.output<typeof historyVersionSchema>

export const calendarHistoryPageSchema = z
  .object({
    userId: storedId(),
    versions: z.array(historyVersionSchema).max(MAX_PAGE_SIZE).describe('Newest first.'),
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
    userId: storedId(),
    since: versionSchema,
    version: versionSchema.describe('The current version: the next `since`.'),
    created: z.array(calendarSchema).max(MAX_CALENDARS_PER_SET).describe('In the set now, not at `since`.'),
    updated: z
      .array(calendarSchema)
      .max(MAX_CALENDARS_PER_SET)
      .describe('In the set at `since` and now, changed (as they are now).'),
    deleted: z
      .array(z.object({ calendarId: storedId() }))
      .max(MAX_CALENDARS_PER_SET)
      .describe('In the set at `since`, not now (tombstones).'),
  })
  .meta({ id: 'CalendarChanges' })

export type CalendarChangesView = z.output<typeof calendarChangesSchema>
