import { z } from 'zod'
import { freeText, storedId, storedText, timestampSchema, uuidSchema, versionSchema } from './common.ts'
import {
  crewCallSchema,
  crewCallSyncSchema,
  departmentSchema,
  MAX_DEPARTMENTS,
  MAX_ROLE_LENGTH,
  MAX_TECHNICIAN_NAME_LENGTH,
  technicianSchema,
} from './crew.ts'
import { ID_CURSOR_MAX_LENGTH, MAX_PAGE_SIZE, nextCursorSchema, pageQueryShape } from './pagination.ts'

/** The lists of crew data, each paginated like /v1/sync-runs (see schemas/pagination.ts). */

export const techniciansQuerySchema = z.strictObject({
  q: freeText()
    .min(1, 'must not be empty')
    .max(MAX_TECHNICIAN_NAME_LENGTH)
    .optional()
    .describe('Only technicians whose id or name contains this text, ignoring case (no wildcards).'),
  ...pageQueryShape(ID_CURSOR_MAX_LENGTH),
})

export type TechniciansQuery = z.output<typeof techniciansQuerySchema>

export const techniciansPageSchema = z
  .object({
    technicians: z.array(technicianSchema).max(MAX_PAGE_SIZE).describe('Sorted by id.'),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'TechniciansPage' })

export type TechniciansPage = z.output<typeof techniciansPageSchema>

export const crewCallSummarySchema = crewCallSchema
  .extend({
    version: versionSchema.describe("The roster's version (its ETag)."),
    sync: crewCallSyncSchema.describe('How the crew call stands with Flex, and what happens next.'),
  })
  .meta({ id: 'CrewCallSummary' })

export type CrewCallSummaryView = z.output<typeof crewCallSummarySchema>

export const crewCallsQuerySchema = z.strictObject(pageQueryShape())

export const crewCallsPageSchema = z
  .object({
    crewCalls: z.array(crewCallSummarySchema).max(MAX_DEPARTMENTS).describe('Sorted by department.'),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'CrewCallsPage' })

export type CrewCallsPage = z.output<typeof crewCallsPageSchema>

export const technicianAssignmentSchema = z
  .object({
    crewCallId: uuidSchema(),
    jobId: storedId(),
    department: departmentSchema,
    role: storedText(MAX_ROLE_LENGTH).nullable(),
    flexLineItemId: storedId().nullable().describe("The technician's crew line in Flex; null until synced."),
    syncedAt: timestampSchema().nullable().describe('When a sync last recorded or checked this line.'),
    rosterVersion: versionSchema.describe("The crew call's roster version (its ETag)."),
  })
  .meta({ id: 'TechnicianAssignment' })

export type TechnicianAssignmentView = z.output<typeof technicianAssignmentSchema>

export const technicianAssignmentsQuerySchema = z.strictObject(pageQueryShape(ID_CURSOR_MAX_LENGTH))

export const technicianAssignmentsPageSchema = z
  .object({
    assignments: z
      .array(technicianAssignmentSchema)
      .max(MAX_PAGE_SIZE)
      .describe('Sorted by jobId, then department.'),
    nextCursor: nextCursorSchema,
  })
  .meta({ id: 'TechnicianAssignmentsPage' })

export type TechnicianAssignmentsPage = z.output<typeof technicianAssignmentsPageSchema>
