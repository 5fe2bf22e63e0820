import type { PrismaClient } from '../../db/prisma.ts'
import { ValidationError } from '../../errors/domain-errors.ts'
import type { Department } from '../../schemas/crew.ts'
import type {
  SyncErrorView,
  SyncRunsQuery,
  SyncRunView,
  SyncStatus,
  SyncTrigger,
} from '../../schemas/sync.ts'

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

interface RunRow {
  id: string
  crew_call_id: string
  job_id: string
  department: Department
  trigger: SyncTrigger
  status: SyncStatus
  added: string[]
  removed: string[]
  repaired: string[]
  adopted: string[]
  roles_set: string[]
  unchanged: string[]
  ignored: string[]
  errors: SyncErrorView[]
  notes: string[]
  retry_at: Date | null
  flex_calls: number
  started_at: Date
  finished_at: Date | null
  duration_ms: number | null
}

const RUN_COLUMNS = `r.id, r.crew_call_id, cc.job_id, cc.department, r.trigger, r.status, r.added, r.removed,
  r.repaired, r.adopted, r.roles_set, r.unchanged, r.ignored, r.errors, r.notes, r.retry_at, r.flex_calls, r.started_at, r.finished_at, r.duration_ms`

/** G6: every sync is recorded: who or what started it, when, how long, what changed, why it failed. */
export class SyncRunLog {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Opens a run. Called under the crew call's lease, so any run still `running` for it belongs to a
   * holder that crashed: those are closed as failed first.
   */
  async start(crewCallId: string, trigger: SyncTrigger): Promise<{ id: string; startedAt: Date }> {
    await this.prisma.$executeRaw`
      UPDATE sync_runs
         SET status = 'failed', finished_at = now(),
             duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int,
             errors = errors || '[{"operation":"run","message":"abandoned: the instance running it stopped before finishing"}]'::jsonb
       WHERE crew_call_id = ${crewCallId}::uuid AND status = 'running'`
    const [row] = await this.prisma.$queryRaw<{ id: string; started_at: Date }[]>`
      INSERT INTO sync_runs (crew_call_id, trigger) VALUES (${crewCallId}::uuid, ${trigger}) RETURNING id, started_at`
    if (!row) throw new Error('sync run insert returned no row')
    return { id: row.id, startedAt: row.started_at }
  }

  async finish(runId: string, outcome: RunOutcome): Promise<SyncRunView> {
    await this.prisma.$executeRaw`
      UPDATE sync_runs
         SET status = ${outcome.status}, finished_at = now(),
             duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int,
             added = ${outcome.added}::text[], removed = ${outcome.removed}::text[],
             repaired = ${outcome.repaired}::text[], adopted = ${outcome.adopted}::text[],
             roles_set = ${outcome.rolesSet}::text[], unchanged = ${outcome.unchanged}::text[],
             ignored = ${outcome.ignored}::text[], errors = ${JSON.stringify(outcome.errors)}::jsonb,
             notes = ${outcome.notes}::text[], retry_at = ${outcome.retryAt}, flex_calls = ${outcome.flexCalls}
       WHERE id = ${runId}::uuid`
    const [run] = await this.query(`WHERE r.id = $1::uuid`, [runId])
    if (!run) throw new Error(`sync run ${runId} vanished`)
    return run
  }

  /** History, newest first, filtered; the cursor is the last run of the previous page. */
  async list(filter: SyncRunsQuery): Promise<{ runs: SyncRunView[]; nextCursor: string | null }> {
    const after = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor)
    const runs = await this.query(
      `WHERE ($1::text IS NULL OR cc.job_id = $1) AND ($2::text IS NULL OR cc.department = $2)
         AND ($3::text IS NULL OR r.status = $3) AND ($7::text IS NULL OR r.trigger = $7)
         AND ($4::timestamptz IS NULL OR (r.started_at, r.id) < ($4::timestamptz, $5::uuid))
       ORDER BY r.started_at DESC, r.id DESC LIMIT $6`,
      [
        filter.jobId ?? null,
        filter.department ?? null,
        filter.status ?? null,
        after?.startedAt ?? null,
        after?.id ?? null,
        filter.limit + 1,
        filter.trigger ?? null,
      ],
    )
    const page = runs.slice(0, filter.limit)
    const last = page.at(-1)
    return { runs: page, nextCursor: runs.length > filter.limit && last ? encodeCursor(last) : null }
  }

  private async query(where: string, values: unknown[]): Promise<SyncRunView[]> {
    const rows = await this.prisma.$queryRawUnsafe<RunRow[]>(
      `SELECT ${RUN_COLUMNS} FROM sync_runs r JOIN crew_calls cc ON cc.id = r.crew_call_id ${where}`,
      ...values,
    )
    return rows.map(toView)
  }
}

function encodeCursor(run: SyncRunView): string {
  return Buffer.from(JSON.stringify([run.startedAt, run.id])).toString('base64url')
}

function decodeCursor(cursor: string): { startedAt: string; id: string } {
  try {
    const [startedAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[]
    if (
      typeof startedAt === 'string' &&
      !Number.isNaN(Date.parse(startedAt)) &&
      typeof id === 'string' &&
      /^[0-9a-f-]{36}$/.test(id)
    ) {
      return { startedAt, id }
    }
  } catch {}
  throw new ValidationError([{ in: 'query', pointer: '/cursor', detail: 'not a cursor this API returned' }])
}

function toView(row: RunRow): SyncRunView {
  return {
    id: row.id,
    crewCallId: row.crew_call_id,
    jobId: row.job_id,
    department: row.department,
    trigger: row.trigger,
    status: row.status,
    added: row.added,
    removed: row.removed,
    repaired: row.repaired,
    adopted: row.adopted,
    rolesSet: row.roles_set,
    unchanged: row.unchanged,
    ignored: row.ignored,
    errors: row.errors,
    notes: row.notes,
    retryAt: row.retry_at?.toISOString() ?? null,
    flexCalls: row.flex_calls,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
    durationMs: row.duration_ms,
  }
}
