import { z } from 'zod'
import { setChangesSchema } from './calendars.ts'
import {
  countSchema,
  fieldsOf,
  freeText,
  identifier,
  idSchema,
  ifMatchSchema,
  messageSchema,
  storedId,
  storedText,
  timestampSchema,
  uuidSchema,
  versionSchema,
} from './common.ts'

/** A department's name as CREW_DEPARTMENTS lists it: lower-case letters, digits and '-', from a letter. */
export const DEPARTMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/
export const DEFAULT_DEPARTMENTS = ['sound', 'lights', 'video'] as const
/** The most departments CREW_DEPARTMENTS may list: a job has at most this many crew calls. */
export const MAX_DEPARTMENTS = 64
/** One of CREW_DEPARTMENTS (Flex tenants name their own departments). */
export type Department = string

/**
 * Any well-formed department name. Routes accept only the configured ones: src/plugins/departments.ts
 * narrows every `department` parameter to configuredDepartmentSchema, which the OpenAPI document shows.
 */
export const departmentSchema = z
  .string()
  .max(32)
  .regex(DEPARTMENT_NAME, "must be a department name: lower-case letters, digits and '-', from a letter")

/** The departments the running service accepts (CREW_DEPARTMENTS), as an enum. */
export const configuredDepartmentSchema = (departments: readonly string[]) =>
  z
    .enum(departments as [string, ...string[]])
    .describe('One of the departments this service is configured with (CREW_DEPARTMENTS).')

export const MAX_ROSTER_SIZE = 2_000
export const MAX_ROLE_LENGTH = 64
export const MAX_TECHNICIAN_NAME_LENGTH = 256

/** A role code such as SND-FOH-R; its last letter is the tier: R, E or T. */
export const roleCodeSchema = identifier()
  .max(MAX_ROLE_LENGTH)
  .regex(/^[A-Z0-9]+(-[A-Z0-9]+)*-[RET]$/, 'must be a role code like SND-FOH-R (last letter: tier R, E or T)')

export const technicianParamsSchema = z.object({ technicianId: idSchema })

export const technicianFieldsSchema = z
  .strictObject({
    name: freeText().min(1, 'must not be empty').max(MAX_TECHNICIAN_NAME_LENGTH),
    flexResourceId: idSchema,
  })
  .meta({ id: 'TechnicianFields' })

export const technicianSchema = z
  .object({
    id: storedId(),
    name: storedText(MAX_TECHNICIAN_NAME_LENGTH),
    flexResourceId: storedId().describe("The technician's contact (resource) id in Flex."),
    createdAt: timestampSchema(),
    updatedAt: timestampSchema(),
  })
  .meta({ id: 'Technician' })

export type TechnicianView = z.output<typeof technicianSchema>

export const crewCallParamsSchema = z.object({ jobId: idSchema, department: departmentSchema })

export const deleteCrewCallHeadersSchema = z.looseObject({
  'if-match': ifMatchSchema.describe('Delete only if the roster is still at this version (its ETag).'),
})

export const crewCallFieldsSchema = z
  .strictObject({ flexElementId: idSchema.describe("The crew-call element's id in Flex.") })
  .meta({ id: 'CrewCallFields' })

export const assignmentSchema = z
  .object({
    technicianId: storedId(),
    role: storedText(MAX_ROLE_LENGTH).nullable(),
    flexLineItemId: storedId().nullable().describe("The technician's crew line in Flex; null until synced."),
    syncedAt: timestampSchema().nullable().describe('When a sync last recorded or checked this line.'),
  })
  .meta({ id: 'Assignment' })

export type AssignmentView = z.output<typeof assignmentSchema>

export const crewCallSchema = z
  .object({
    id: uuidSchema(),
    jobId: storedId(),
    department: departmentSchema,
    flexElementId: storedId(),
  })
  .meta({ id: 'CrewCall' })

export type CrewCallView = z.output<typeof crewCallSchema>

/** A crew call as its PUT answers it: with its version (its roster's, also the ETag). */
export const crewCallWrittenSchema = crewCallSchema
  .extend({ version: versionSchema })
  .meta({ id: 'CrewCallWritten' })

export const crewCallIfMatchHeadersSchema = z.looseObject({
  'if-match': ifMatchSchema.describe('Write only if the crew call is still at this version (its ETag).'),
})

export const rosterSchema = z
  .object({
    version: versionSchema,
    assignments: z.array(assignmentSchema).max(MAX_ROSTER_SIZE).describe('Sorted by technicianId.'),
  })
  .meta({ id: 'Roster' })

export type RosterView = z.output<typeof rosterSchema>

export const syncStateValues = [
  'in-sync',
  'pending',
  'running',
  'retrying',
  'deferred',
  'failed',
  'not-configured',
] as const
export type SyncState = (typeof syncStateValues)[number]

export const crewCallSyncSchema = z
  .object({
    state: z
      .enum(syncStateValues)
      .describe(
        'in-sync: Flex holds the roster as last synced; pending: a change waits for its run; running; ' +
          'retrying: the last run did not succeed and another is scheduled; deferred: the Flex call budget ' +
          'or a 429 put it off; failed: SYNC_MAX_ATTEMPTS runs in a row did not succeed (or SYNC_MAX_CRASHES ' +
          'ended their process: see lostRuns), and only a roster ' +
          'change or a manual sync starts another; not-configured: Flex is not configured (FLEX_BASE_URL, ' +
          'FLEX_AUTH_TOKEN), so no run will happen until it is and the service restarts.',
      ),
    rosterVersion: versionSchema,
    syncedVersion: versionSchema
      .nullable()
      .describe('The roster version the last successful run reconciled.'),
    attempts: countSchema().describe('Runs in a row that did not succeed.'),
    lostRuns: countSchema().describe(
      'Runs in a row lost with their process (it died mid-run and its lease lapsed). At SYNC_MAX_CRASHES ' +
        'the crew call is quarantined: failed, lastError saying its sync ended the process, until a roster ' +
        'change or a manual sync re-arms it.',
    ),
    lastRunId: uuidSchema().nullable(),
    lastError: messageSchema().nullable().describe("The last run's first error, when it did not succeed."),
    nextAttemptAt: timestampSchema().nullable().describe('When the next automatic run is due, if one is.'),
  })
  .meta({ id: 'CrewCallSync' })

export type CrewCallSyncView = z.output<typeof crewCallSyncSchema>

export const crewCallWithRosterSchema = crewCallSchema
  .extend(rosterSchema.shape)
  .extend({ sync: crewCallSyncSchema.describe('How the crew call stands with Flex, and what happens next.') })
  .meta({ id: 'CrewCallWithRoster' })

export type CrewCallWithRosterView = z.output<typeof crewCallWithRosterSchema>

export const replaceRosterBodySchema = z
  .strictObject({
    assignments: z
      .array(z.strictObject({ technicianId: idSchema, role: roleCodeSchema.nullish() }))
      .max(MAX_ROSTER_SIZE, `at most ${MAX_ROSTER_SIZE} assignments per crew call`)
      // Runs even when items have faults of their own (see replaceCalendarsBodySchema).
      .superRefine(
        (assignments: unknown[], ctx) => {
          const firstIndex = new Map<string, number>()
          assignments.forEach((assignment, index) => {
            const { technicianId } = fieldsOf(assignment)
            if (typeof technicianId !== 'string') return
            const seen = firstIndex.get(technicianId)
            if (seen === undefined) firstIndex.set(technicianId, index)
            else
              ctx.addIssue({
                code: 'custom',
                path: [index, 'technicianId'],
                message: `duplicates the technicianId of assignments[${seen}]`,
              })
          })
        },
        { when: (payload) => Array.isArray(payload.value) },
      ),
  })
  .meta({ id: 'ReplaceRoster' })

export type AssignmentInput = z.output<typeof replaceRosterBodySchema>['assignments'][number]

export const replaceRosterResultSchema = rosterSchema
  .extend({ changes: setChangesSchema })
  .meta({ id: 'ReplaceRosterResult' })

export type ReplaceRosterResult = z.output<typeof replaceRosterResultSchema>

export const assignmentParamsSchema = crewCallParamsSchema.extend({ technicianId: idSchema })

export const assignmentFieldsSchema = z
  .strictObject({ role: roleCodeSchema.nullish() })
  .meta({ id: 'AssignmentFields' })
