import { z } from 'zod'
import {
  fieldsOf,
  freeText,
  identifier,
  idSchema,
  ifMatchSchema,
  storedId,
  storedText,
  timestampSchema,
  uuidSchema,
  versionSchema,
} from '../../schemas/common.ts'
import { departmentSchema } from '../../schemas/departments.ts'
import { setChangesSchema } from '../calendars/calendar-schemas.ts'
import { crewCallSyncSchema } from '../sync/sync-status.ts'

export const MAX_ROSTER_SIZE = 2_000
export const MAX_ROLE_LENGTH = 64
export const MAX_TECHNICIAN_NAME_LENGTH = 256

/** A role code such as SND-FOH-R; its last letter is the tier: R, E or T. */
const roleCodeSchema = identifier()
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
