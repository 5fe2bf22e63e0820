import { Prisma, type PrismaClient } from '../../db/prisma.ts'
import { boundedMessage } from '../../schemas/common.ts'
import type { CrewCallView } from '../crew/crew-schemas.ts'
import { decodeCursor, toPage } from '../pagination.ts'
import {
  MAX_RUN_ERRORS,
  MAX_RUN_LIST_ITEMS,
  MAX_RUN_NOTES,
  type SyncErrorView,
  type SyncRunsQuery,
  type SyncRunView,
  type SyncStatus,
  type SyncTrigger,
} from './sync-schemas.ts'

/** A run being recorded: its key is (crew call, id), the crew call leading (docs/scaling.md). */
interface OpenRun {
  id: string
  crewCall: RunCrewCall
  startedAt: Date
}

/** The crew call a run is for, as its view names it. */
type RunCrewCall = Pick<CrewCallView, 'id' | 'jobId' | 'department'>

/** What a finished run did; every list holds technician ids, but removed and ignored (Flex line ids). */
export interface RunOutcome {
  status: Exclude<SyncStatus, 'running'>
  added: string[]
  removed: string[]
  repaired: string[]
  adopted: string[]
  rolesSet: string[]
  unchanged: string[]
  ignored: string[]
  errors: SyncErrorView[]
  /** What the run could not verify and how it went on. */
  notes: string[]
  /** When a deferred run may be tried again; null otherwise. */
  retryAt: Date | null
  /** HTTP attempts made to Flex, retries included. */
  flexCalls: number
}

/** The columns of a run's view, with its crew call's job and department. */
const RUN_VIEW = {
  include: { crewCall: { select: { jobId: true, department: true } } },
} satisfies Prisma.SyncRunDefaultArgs

type RunRecord = Prisma.SyncRunGetPayload<typeof RUN_VIEW>

const ABANDONED = 'abandoned: the instance running it stopped before finishing'

/**
 * The SET list of an UPDATE of sync_runs that closes a `running` run as failed at `at` (the app's clock,
 * as at its start), with a `run` error saying `message` (a text expression): how a run that never
 * finished is closed, both when the next run opens (SyncRunLog.start) and when a claim settles a lost
 * run (SyncLostRuns.settle).
 */
export function closedAsFailed(at: Date, message: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`status = 'failed', finished_at = ${at}::timestamptz,
    duration_ms = greatest(0, round(extract(epoch FROM ${at}::timestamptz - started_at) * 1000))::int,
    errors = errors || jsonb_build_array(jsonb_build_object('operation', 'run', 'message', ${message}))`
}

/** G6: every sync is recorded: who or what started it, when, how long, what changed, why it failed. */
export class SyncRunLog {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Opens a run. Called under the crew call's lease, so any run still `running` for it belongs to a
   * holder that crashed: those are closed as failed in the same statement.
   */
  async start(crewCall: RunCrewCall, trigger: SyncTrigger): Promise<OpenRun> {
    // App clock at both ends of a run, so its duration never mixes two clocks. One statement: a run is
    // opened on every claim, and each round trip there delays the claim's Flex calls.
    const startedAt = new Date()
    const [run] = await this.prisma.$queryRaw<{ id: string }[]>`
      WITH abandoned AS (
        UPDATE sync_runs SET ${closedAsFailed(startedAt, Prisma.sql`${ABANDONED}::text`)}
         WHERE crew_call_id = ${crewCall.id}::uuid AND status = 'running')
      INSERT INTO sync_runs (crew_call_id, trigger, started_at)
      VALUES (${crewCall.id}::uuid, ${trigger}, ${startedAt}::timestamptz)
      RETURNING id`
    if (!run) throw new Error('INSERT INTO sync_runs returned no row')
    return { id: run.id, crewCall, startedAt }
  }

  async finish(run: OpenRun, outcome: RunOutcome): Promise<SyncRunView> {
    const finishedAt = new Date()
    outcome = boundedOutcome(outcome)
    const { crewCall } = run
    const finished = await this.prisma.syncRun.update({
      where: { crewCallId_id: { crewCallId: crewCall.id, id: run.id } },
      // The lists as `{ set }`: Prisma 7 makes a bare array of a scalar list part of the query's shape,
      // so every run (each with its own ids) compiled a new query plan and took a place in the plan
      // cache (docs/performance.md#what-a-reconcile-costs); `set` is a parameter like any other value.
      data: {
        status: outcome.status,
        finishedAt,
        durationMs: Math.max(0, finishedAt.getTime() - run.startedAt.getTime()),
        added: { set: outcome.added },
        removed: { set: outcome.removed },
        repaired: { set: outcome.repaired },
        adopted: { set: outcome.adopted },
        rolesSet: { set: outcome.rolesSet },
        unchanged: { set: outcome.unchanged },
        ignored: { set: outcome.ignored },
        errors: outcome.errors,
        notes: { set: outcome.notes },
        retryAt: outcome.retryAt,
        flexCalls: outcome.flexCalls,
      },
    })
    // The crew call's job and department come from the caller: an include would read them again, in a
    // transaction of its own (four more round trips per run).
    return toView({ ...finished, crewCall: { jobId: crewCall.jobId, department: crewCall.department } })
  }

  /** History, newest first, filtered; the cursor is the last run of the previous page. */
  async list(filter: SyncRunsQuery): Promise<{ runs: SyncRunView[]; nextCursor: string | null }> {
    const after = filter.cursor === undefined ? undefined : decodeRunCursor(filter.cursor)
    const runs = await this.prisma.syncRun.findMany({
      where: {
        crewCall: { jobId: filter.jobId, department: filter.department },
        status: filter.status,
        trigger: filter.trigger,
        ...(after && {
          OR: [
            { startedAt: { lt: new Date(after.startedAt) } },
            { startedAt: new Date(after.startedAt), id: { lt: after.id } },
          ],
        }),
      },
      orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
      take: filter.limit + 1,
      ...RUN_VIEW,
    })
    const page = toPage(runs, filter.limit, (run) => [run.startedAt.toISOString(), run.id])
    return { runs: page.items.map(toView), nextCursor: page.nextCursor }
  }
}

/** A run's cursor: the start and id of the last run of the previous page. */
function decodeRunCursor(cursor: string): { startedAt: string; id: string } {
  const [startedAt = '', id = ''] = decodeCursor(
    cursor,
    2,
    ([startedAt = '', id = '']) => !Number.isNaN(Date.parse(startedAt)) && /^[0-9a-f-]{36}$/.test(id),
  )
  return { startedAt, id }
}

type RunLists = Pick<
  RunOutcome,
  'added' | 'removed' | 'repaired' | 'adopted' | 'rolesSet' | 'unchanged' | 'ignored' | 'errors' | 'notes'
>

/**
 * A run's lists within the bounds its view declares (schemas/sync.ts): each list of ids in id order, cut at
 * MAX_RUN_LIST_ITEMS, errors at MAX_RUN_ERRORS and notes at MAX_RUN_NOTES, every message at
 * MAX_MESSAGE_LENGTH; a cut list leaves a note saying how many it left out. Applied when a run is recorded
 * and again when one is read (for runs recorded before the bounds).
 */
function boundedOutcome<T extends RunLists>(outcome: T): T {
  const cutNotes: string[] = []
  // In id order, not in the order Flex answered (adds run side by side): the same run reads the same.
  const ids = (name: string, list: string[]) => {
    const sorted = list.toSorted()
    if (sorted.length <= MAX_RUN_LIST_ITEMS) return sorted
    cutNotes.push(`${name}: ${sorted.length} ids, the first ${MAX_RUN_LIST_ITEMS} recorded`)
    return sorted.slice(0, MAX_RUN_LIST_ITEMS)
  }
  const errors = outcome.errors.slice(0, MAX_RUN_ERRORS).map((error) => ({
    ...error,
    message: boundedMessage(error.message),
  }))
  if (outcome.errors.length > MAX_RUN_ERRORS)
    cutNotes.push(`errors: ${outcome.errors.length}, the first ${MAX_RUN_ERRORS} recorded`)
  const bounded = {
    ...outcome,
    added: ids('added', outcome.added),
    removed: ids('removed', outcome.removed),
    repaired: ids('repaired', outcome.repaired),
    adopted: ids('adopted', outcome.adopted),
    rolesSet: ids('rolesSet', outcome.rolesSet),
    unchanged: ids('unchanged', outcome.unchanged),
    ignored: ids('ignored', outcome.ignored),
    errors,
  }
  const notes = [...cutNotes, ...outcome.notes]
  return {
    ...bounded,
    notes: notes.slice(0, MAX_RUN_NOTES).map((note) => boundedMessage(note)),
  }
}

function toView({ crewCall, ...record }: RunRecord): SyncRunView {
  const run = boundedOutcome({ ...record, errors: record.errors as SyncErrorView[] })
  return {
    id: run.id,
    crewCallId: run.crewCallId,
    jobId: crewCall.jobId,
    department: crewCall.department as SyncRunView['department'],
    trigger: run.trigger as SyncTrigger,
    status: run.status as SyncStatus,
    added: run.added,
    removed: run.removed,
    repaired: run.repaired,
    adopted: run.adopted,
    rolesSet: run.rolesSet,
    unchanged: run.unchanged,
    ignored: run.ignored,
    errors: run.errors,
    notes: run.notes,
    retryAt: run.retryAt?.toISOString() ?? null,
    flexCalls: run.flexCalls,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationMs: run.durationMs,
  }
}
