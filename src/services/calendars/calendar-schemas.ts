import { z } from 'zod'
import {
  countSchema,
  fieldsOf,
  freeText,
  identifier,
  idSchema,
  ifMatchSchema,
  isFreeText,
  isIdentifier,
  MAX_ID_LENGTH,
  storedId,
  storedText,
  timestampSchema,
  versionSchema,
} from '../../schemas/common.ts'
import { isPlainObject, withFastAccept } from '../../schemas/fast-accept.ts'

export const MAX_CALENDARS_PER_SET = 10_000

const MAX_SUMMARY_LENGTH = 1024
export const MAX_DESCRIPTION_LENGTH = 8192
const MAX_TIME_ZONE_LENGTH = 64
/** `#rrggbb`. */
const COLOR_LENGTH = 7

const accessRoles = ['owner', 'writer', 'reader', 'freeBusyReader'] as const

const COLOR = /^#[0-9a-fA-F]{6}$/

const colorSchema = identifier().max(COLOR_LENGTH).regex(COLOR, 'must be a color like #9fe1e7')

/**
 * Whether this runtime knows the IANA time zone (aliases such as UTC and US/Eastern included). Building
 * an Intl.DateTimeFormat is costly, and a set of 10,000 calendars names a handful of zones: answers are
 * cached, within a bound, since a request may send arbitrary strings.
 */
const knownTimeZones = new Map<string, boolean>()
function isTimeZone(zone: string): boolean {
  let known = knownTimeZones.get(zone)
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone })
      known = true
    } catch {
      known = false
    }
    if (knownTimeZones.size < 1_000) knownTimeZones.set(zone, known)
  }
  return known
}

const timeZoneSchema = identifier()
  .max(MAX_TIME_ZONE_LENGTH)
  .refine(isTimeZone, 'must be an IANA time zone such as Europe/Madrid')

/** One calendar as the provider lists it; field names are Google Calendar's calendarList names. */
const calendarInputSchema = z
  .strictObject({
    calendarId: idSchema,
    summary: freeText().min(1, 'must not be empty').max(MAX_SUMMARY_LENGTH),
    description: freeText().max(MAX_DESCRIPTION_LENGTH).nullish(),
    timeZone: timeZoneSchema.nullish(),
    backgroundColor: colorSchema.nullish(),
    foregroundColor: colorSchema.nullish(),
    accessRole: z.enum(accessRoles).nullish(),
    primary: z.boolean().optional(),
    selected: z.boolean().optional(),
  })
  .meta({ id: 'CalendarListEntry' })

export type CalendarInput = z.output<typeof calendarInputSchema>

export const replaceCalendarsBodySchema = withFastAccept(
  z
    .strictObject({
      calendars: z
        .array(calendarInputSchema)
        .max(MAX_CALENDARS_PER_SET, `at most ${MAX_CALENDARS_PER_SET} calendars per set`)
        // Runs even when items have faults of their own, so one answer names every field at fault: the
        // items are then as sent, and only those whose calendarId (or primary) is readable are compared.
        .superRefine(
          (calendars: unknown[], ctx) => {
            const firstIndex = new Map<string, number>()
            let primaryIndex: number | undefined
            calendars.forEach((calendar, index) => {
              const { calendarId, primary } = fieldsOf(calendar)
              if (typeof calendarId === 'string') {
                const seen = firstIndex.get(calendarId)
                if (seen === undefined) firstIndex.set(calendarId, index)
                else
                  ctx.addIssue({
                    code: 'custom',
                    path: [index, 'calendarId'],
                    message: `duplicates the calendarId of calendars[${seen}]`,
                  })
              }
              if (primary !== true) return
              if (primaryIndex === undefined) primaryIndex = index
              else
                ctx.addIssue({
                  code: 'custom',
                  path: [index, 'primary'],
                  message: `only one calendar may be primary; calendars[${primaryIndex}] already is`,
                })
            })
          },
          { when: (payload) => Array.isArray(payload.value) },
        ),
    })
    .meta({ id: 'ReplaceCalendars' }),
  isPlainCalendarsBody,
)

const CALENDAR_FIELDS = new Set(Object.keys(calendarInputSchema.shape))
const ACCESS_ROLES = new Set<unknown>(accessRoles)

/** null or absent (what `.nullish()` accepts besides its schema), or a string `valid` accepts. */
const nullishString = (value: unknown, valid: (text: string) => boolean) =>
  value === undefined || value === null || (typeof value === 'string' && valid(value))

// The field checks, made once: an arrow written inside the loop is a new function object per field of
// every calendar (about 4 KB a 20-calendar body, measured with bench/allocation-profile.ts).
const isDescription = (text: string) => text.length <= MAX_DESCRIPTION_LENGTH && isFreeText(text)
const isTimeZoneName = (zone: string) =>
  zone.length <= MAX_TIME_ZONE_LENGTH && isIdentifier(zone) && isTimeZone(zone)
const isColor = (color: string) => COLOR.test(color)

/**
 * The fast check of replaceCalendarsBodySchema (src/schemas/fast-accept.ts): true only for a body the
 * schema accepts as it is (the checks of calendarInputSchema and of the set's superRefine, field by
 * field); a body it does not accept goes through zod, which names the faults.
 */
function isPlainCalendarsBody(body: unknown): boolean {
  if (!isPlainObject(body)) return false
  const keys = Object.keys(body)
  if (keys.length !== 1 || keys[0] !== 'calendars') return false
  const calendars = body.calendars
  if (!Array.isArray(calendars) || calendars.length > MAX_CALENDARS_PER_SET) return false
  const ids = new Set<string>()
  let primaries = 0
  for (const calendar of calendars) {
    if (!isPlainObject(calendar)) return false
    // for-in rather than Object.keys: no array per calendar (a parsed body inherits no enumerable key).
    for (const key in calendar) if (!CALENDAR_FIELDS.has(key)) return false
    const { calendarId, summary, primary, selected, accessRole } = calendar
    if (
      typeof calendarId !== 'string' ||
      calendarId.length < 1 ||
      calendarId.length > MAX_ID_LENGTH ||
      !isIdentifier(calendarId) ||
      ids.has(calendarId) ||
      typeof summary !== 'string' ||
      summary.length < 1 ||
      summary.length > MAX_SUMMARY_LENGTH ||
      !isFreeText(summary) ||
      !nullishString(calendar.description, isDescription) ||
      !nullishString(calendar.timeZone, isTimeZoneName) ||
      !nullishString(calendar.backgroundColor, isColor) ||
      !nullishString(calendar.foregroundColor, isColor) ||
      !(accessRole === undefined || accessRole === null || ACCESS_ROLES.has(accessRole)) ||
      !(primary === undefined || typeof primary === 'boolean') ||
      !(selected === undefined || typeof selected === 'boolean')
    )
      return false
    ids.add(calendarId)
    if (primary === true && ++primaries > 1) return false
  }
  return true
}

export const calendarSchema = z
  .object({
    calendarId: storedId(),
    summary: storedText(MAX_SUMMARY_LENGTH),
    description: storedText(MAX_DESCRIPTION_LENGTH).nullable(),
    timeZone: storedText(MAX_TIME_ZONE_LENGTH).nullable(),
    backgroundColor: storedText(COLOR_LENGTH).nullable(),
    foregroundColor: storedText(COLOR_LENGTH).nullable(),
    accessRole: z.enum(accessRoles).nullable(),
    primary: z.boolean(),
    selected: z.boolean(),
    createdAt: timestampSchema().describe('When this calendar first entered the set; re-syncs keep it.'),
    updatedAt: timestampSchema().describe('When a field of this calendar last changed.'),
  })
  .meta({ id: 'Calendar' })

export type CalendarView = z.output<typeof calendarSchema>

export const calendarSetSchema = z
  .object({
    userId: storedId(),
    version: versionSchema.describe('0 for a user never synced; +1 for every replace that changed the set.'),
    calendars: z
      .array(calendarSchema)
      .max(MAX_CALENDARS_PER_SET)
      .describe(
        "Sorted by calendarId, in the byte order of its UTF-8 (code-point order), as PostgreSQL's C collation sorts.",
      ),
  })
  .meta({ id: 'CalendarSet' })

export type CalendarSetView = z.output<typeof calendarSetSchema>

export const setChangesSchema = z
  .object({
    created: countSchema(),
    updated: countSchema(),
    deleted: countSchema(),
    unchanged: countSchema(),
  })
  .meta({ id: 'SetChanges' })

export type SetChanges = z.output<typeof setChangesSchema>

export const replaceCalendarsResultSchema = calendarSetSchema
  .extend({ changes: setChangesSchema })
  .meta({ id: 'ReplaceCalendarsResult' })

export type ReplaceCalendarsResult = z.output<typeof replaceCalendarsResultSchema>

export const userParamsSchema = z.object({ userId: idSchema })

export const ifMatchHeadersSchema = z.looseObject({
  'if-match': ifMatchSchema.describe('Replace only if the set is still at this version (its ETag).'),
})
