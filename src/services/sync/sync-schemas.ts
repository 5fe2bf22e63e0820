import { z } from 'zod'
import { idSchema, queryBoolean } from '../../schemas/common.ts'
import { departmentSchema } from '../../schemas/departments.ts'
import { nextCursorSchema, pageQueryShape } from '../../schemas/pagination.ts'

const syncStatuses = ['running', 'succeeded', 'partial', 'failed', 'deferred'] as const
export type SyncStatus = (typeof syncStatuses)[number]

/** Why a run ran: a client asked, a roster change, a retry after an unsuccessful run, drift repair. */
const syncTriggers = ['manual', 'change', 'retry', 'resync'] as const
export type SyncTrigger = (typeof syncTriggers)[number]

const syncErrorSchema = z
  .object({
    operation: z.enum(['list', 'add', 'set-role', 'remove', 'record', 'run', 'budget']),
    technicianId: z.string().optional(),
    lineItemId: z.string().optional(),
    message: z.string(),
  })
  .meta({ id: 'SyncError' })

export type SyncErrorView = z.output<typeof syncErrorSchema>

const syncRunSchema = z
  .object({
    id: z.uuid(),
    crewCallId: z.uuid(),
    jobId: z.string(),
    department: z.string(),
    trigger: z.enum(syncTriggers),
    status: z.enum(syncStatuses),
    added: z.array(z.string()).describe('Technicians given a new crew line.'),
    removed: z.array(z.string()).describe('Flex line ids removed (technicians off the roster, duplicates).'),
    repaired: z
      .array(z.string())
      .describe('Technicians whose recorded line had vanished and was added again.'),
    adopted: z.array(z.string()).describe('Technicians whose existing, unrecorded line was taken over.'),
    rolesSet: z.array(z.string()).describe('Technicians whose business role was set in Flex.'),
    unchanged: z.array(z.string()).describe('Technicians already right in Flex.'),
    ignored: z.array(z.string()).describe('Flex line ids of contacts rostersync does not know: left alone.'),
    errors: z.array(syncErrorSchema),
    notes: z
      .array(z.string())
      .describe('What the run could not verify in Flex and how it went on, e.g. roles it could not read.'),
    retryAt: z.iso
      .datetime()
      .nullable()
      .describe('When a deferred run (Flex call budget spent, or Flex answered 429) may be tried again.'),
    flexCalls: z.number().int().describe('HTTP attempts the run made to Flex, retries included.'),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
    durationMs: z.number().int().nullable(),
  })
  .meta({ id: 'SyncRun' })

export type SyncRunView = z.output<typeof syncRunSchema>

const syncPlanSchema = z
  .object({
    add: z.array(z.string()),
    repair: z.array(z.string()),
    adopt: z.array(z.string()),
    remove: z.array(z.string()),
    setRole: z.array(z.string()),
    unchanged: z.array(z.string()),
    ignored: z.array(z.string()),
  })
  .meta({ id: 'SyncPlan' })

export type SyncPlanView = z.output<typeof syncPlanSchema>

export const syncQuerySchema = z.object({
  dryRun: queryBoolean('Return the plan and change nothing.'),
})

export const syncResponseSchema = z
  .union([z.object({ run: syncRunSchema }), z.object({ plan: syncPlanSchema })])
  .meta({ id: 'SyncResult' })

export const jobParamsSchema = z.object({ jobId: idSchema })

export const jobSyncResponseSchema = z.object({ runs: z.array(syncRunSchema) }).meta({ id: 'JobSyncResult' })

export const syncRunsQuerySchema = z.strictObject({
  jobId: idSchema.optional(),
  department: departmentSchema.optional(),
  status: z.enum(syncStatuses).optional(),
  trigger: z.enum(syncTriggers).optional(),
  ...pageQueryShape(),
})

export type SyncRunsQuery = z.output<typeof syncRunsQuerySchema>

export const syncRunsPageSchema = z
  .object({ runs: z.array(syncRunSchema), nextCursor: nextCursorSchema })
  .meta({ id: 'SyncRunsPage' })
