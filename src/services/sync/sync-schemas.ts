import { z } from 'zod'
import {
  countSchema,
  idSchema,
  messageSchema,
  queryBoolean,
  storedId,
  timestampSchema,
  uuidSchema,
} from '../../schemas/common.ts'
import { departmentSchema, MAX_DEPARTMENTS } from '../../schemas/departments.ts'
import { MAX_PAGE_SIZE, nextCursorSchema, pageQueryShape } from '../../schemas/pagination.ts'
import { MAX_ROSTER_SIZE } from '../crew/crew-schemas.ts'

/**
 * The most ids a run's list records (technicians, or Flex lines for removed and ignored): a roster holds
 * at most MAX_ROSTER_SIZE technicians, and a Flex listing at most FLEX_MAX_ANSWER_BYTES; a longer list is
 * recorded cut, with a note saying how many were left out (SyncRunLog).
 */
export const MAX_RUN_LIST_ITEMS = 10_000
/** The most errors and notes a run records (one error per technician at most, plus the run's own). */
export const MAX_RUN_ERRORS = MAX_ROSTER_SIZE + 10
export const MAX_RUN_NOTES = 100

/** A run's list of ids. */
const runIds = () => z.array(storedId()).max(MAX_RUN_LIST_ITEMS)

export const syncStatuses = ['running', 'succeeded', 'partial', 'failed', 'deferred'] as const
export type SyncStatus = (typeof syncStatuses)[number]

/** Why a run ran: a client asked, a roster change, a retry after an unsuccessful run, drift repair. */
export const syncTriggers = ['manual', 'change', 'retry', 'resync'] as const
export type SyncTrigger = (typeof syncTriggers)[number]

const syncErrorSchema = z
  .object({
    operation: z.enum(['list', 'add', 'set-role', 'remove', 'record', 'run', 'budget']),
    technicianId: storedId().optional(),
    lineItemId: storedId().optional(),
    message: messageSchema(),
  })
  .meta({ id: 'SyncError' })

export type SyncErrorView = z.output<typeof syncErrorSchema>

const syncRunSchema = z
  .object({
    id: uuidSchema(),
    crewCallId: uuidSchema(),
    jobId: storedId(),
    department: departmentSchema,
    trigger: z.enum(syncTriggers),
    status: z.enum(syncStatuses),
    added: runIds().describe('Technicians given a new crew line.'),
    removed: runIds().describe('Flex line ids removed (technicians off the roster, duplicates).'),
    repaired: runIds().describe('Technicians whose recorded line had vanished and was added again.'),
    adopted: runIds().describe('Technicians whose existing, unrecorded line was taken over.'),
    rolesSet: runIds().describe('Technicians whose business role was set in Flex.'),
    unchanged: runIds().describe('Technicians already right in Flex.'),
    ignored: runIds().describe('Flex line ids of contacts rostersync does not know: left alone.'),
    errors: z.array(syncErrorSchema).max(MAX_RUN_ERRORS),
    notes: z
      .array(messageSchema())
      .max(MAX_RUN_NOTES)
      .describe('What the run could not verify in Flex and how it went on, e.g. roles it could not read.'),
    retryAt: timestampSchema()
      .nullable()
      .describe('When a deferred run (Flex call budget spent, or Flex answered 429) may be tried again.'),
    flexCalls: countSchema().describe('HTTP attempts the run made to Flex, retries included.'),
    startedAt: timestampSchema(),
    finishedAt: timestampSchema().nullable(),
    durationMs: countSchema().nullable(),
  })
  .meta({ id: 'SyncRun' })

export type SyncRunView = z.output<typeof syncRunSchema>

const syncPlanSchema = z
  .object({
    add: runIds(),
    repair: runIds(),
    adopt: runIds(),
    remove: runIds(),
    setRole: runIds(),
    unchanged: runIds(),
    ignored: runIds(),
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

export const jobSyncResponseSchema = z
  .object({ runs: z.array(syncRunSchema).max(MAX_DEPARTMENTS) })
  .meta({ id: 'JobSyncResult' })

export const syncRunsQuerySchema = z.strictObject({
  jobId: idSchema.optional(),
  department: departmentSchema.optional(),
  status: z.enum(syncStatuses).optional(),
  trigger: z.enum(syncTriggers).optional(),
  ...pageQueryShape(),
})

export type SyncRunsQuery = z.output<typeof syncRunsQuerySchema>

export const syncRunsPageSchema = z
  .object({ runs: z.array(syncRunSchema).max(MAX_PAGE_SIZE), nextCursor: nextCursorSchema })
  .meta({ id: 'SyncRunsPage' })
