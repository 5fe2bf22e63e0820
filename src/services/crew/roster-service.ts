import { isRecordNotFound } from '../../db/database-errors.ts'
import type { PrismaClient } from '../../db/prisma.ts'
import { forgetIfLarge } from '../../db/prisma-argument-history.ts'
import type { RunInTransaction, Tx } from '../../db/transaction.ts'
import { ConflictError, NotFoundError, ValidationError } from '../../errors/domain-errors.ts'
import type { IfMatch } from '../../schemas/common.ts'
import type { Department } from '../../schemas/departments.ts'
import type { Author } from '../history/author.ts'
import { versionOutOfHistory } from '../history/history-versions.ts'
import type { KeyVerdict } from '../idempotency/key-store.ts'
import type { RequestKey } from '../idempotency/request-key.ts'
import { checkIfMatch, ifMatchVersions } from '../if-match.ts'
import { sortBy } from '../sort-by.ts'
import { LAST_RUN, type SyncStatusRow, syncStatusColumns, toSyncStatus } from '../sync/sync-status.ts'
import { crewCallName, rosterName } from './crew-call-service.ts'
import type { AssignmentInput, AssignmentView, CrewCallWithRosterView, RosterView } from './crew-schemas.ts'

interface RosterServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
  /** SYNC_DEBOUNCE_MS: every roster change schedules a reconcile this long after it (SyncSchedule). */
  syncDebounceMs: number
  /** Whether Flex is configured (sync states read `not-configured` without it). */
  flexConfigured: boolean
  /** The current request's Idempotency-Key (IdempotencyService.currentKey), taken by the write's statement. */
  currentKey: () => RequestKey | undefined
  /** Told that a roster change's reconcile falls due in `dueInMs`: wakes this instance's sync workers then. */
  onSyncDue?: (dueInMs: number) => void
}

/** A replace's (or restore's) answer as PostgreSQL rendered it (ReplaceRosterResult as compact JSON). */
interface RenderedRoster {
  version: number
  json: string
}

type Nullable<T> = { [K in keyof T]: T[K] | null }

interface AssignmentRecord {
  technicianId: string
  role: string | null
  flexLineItemId: string | null
  syncedAt: Date | null
}

interface ReplaceRosterRow {
  crew_call_exists: boolean
  version: number
  precondition_failed: boolean
  /** Positions in the request of technicians that do not exist (nothing was written); null when none. */
  unknown_technicians: number[] | null
  created: number
  updated: number
  deleted: number
  /** The answer's body (ReplaceRosterResult as compact JSON); null when the replace was refused. */
  answer: string | null
  /** What the Idempotency-Key held instead of being taken (nothing was written); null otherwise. */
  key_verdict: KeyVerdict | null
}

/**
 * One assignment's change, as mark_roster_changed records it in the roster's history: the role before it
 * (none when created); the role after it is the next change's before, or today's.
 */
interface RosterChangeRecord {
  technician_id: string
  change: 'created' | 'updated' | 'deleted'
  before?: { role: string | null } | null
}

interface CrewCallKey {
  jobId: string
  department: Department
}

/**
 * A crew call's roster, with the calendar set's guarantees: writes are serialized per crew call (the
 * first statement locks its crew_calls row), keyed by (crew_call_id, technician_id), versioned (ETag,
 * If-Match), and a replace is atomic. Flex is not called here: the sync reconciles Flex with the roster.
 */
export class RosterService {
  constructor(private readonly deps: RosterServiceDeps) {}

  /** The roster in one statement, so version and rows come from one snapshot (two reads would not be). */
  async get(key: CrewCallKey): Promise<RosterView> {
    const rows = await this.deps.prisma.$queryRaw<(Nullable<AssignmentRecord> & { version: number })[]>`
      SELECT cc.version, ca.technician_id AS "technicianId", ca.role, ca.flex_line_item_id AS "flexLineItemId",
             ca.synced_at AS "syncedAt"
        FROM crew_calls cc LEFT JOIN crew_assignments ca ON ca.crew_call_id = cc.id
       WHERE cc.job_id = ${key.jobId} AND cc.department = ${key.department}`
    const [first] = rows
    if (!first) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    const assignments = rows
      .filter((row): row is AssignmentRecord & { version: number } => row.technicianId !== null)
      .map(({ version, ...row }) => toView(row))
    return { version: first.version, assignments: sortByTechnician(assignments) }
  }

  /**
   * The crew call, its roster and how it stands with Flex, in one statement: one snapshot, so the
   * version, the rows and the sync state agree.
   */
  async getCrewCall(key: CrewCallKey): Promise<CrewCallWithRosterView> {
    const rows = await this.deps.prisma.$queryRaw<
      (Nullable<AssignmentRecord> & SyncStatusRow & { id: string; flexElementId: string })[]
    >`
      SELECT cc.id, cc.flex_element_id AS "flexElementId", ${syncStatusColumns(this.deps.flexConfigured)},
             ca.technician_id AS "technicianId", ca.role, ca.flex_line_item_id AS "flexLineItemId",
             ca.synced_at AS "syncedAt"
        FROM crew_calls cc ${LAST_RUN} LEFT JOIN crew_assignments ca ON ca.crew_call_id = cc.id
       WHERE cc.job_id = ${key.jobId} AND cc.department = ${key.department}`
    const [first] = rows
    if (!first) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    const assignments = rows
      .filter((row) => row.technicianId !== null)
      .map((row) => toView(row as AssignmentRecord))
    return {
      id: first.id,
      jobId: key.jobId,
      department: key.department,
      flexElementId: first.flexElementId,
      version: first.sync_roster_version,
      assignments: sortByTechnician(assignments),
      sync: toSyncStatus(first),
    }
  }

  /**
   * Makes the roster exactly `assignments`; the version rises by 1 only when something changed, and a
   * change schedules the crew call's reconcile with it. One round trip: the SQL function replace_roster
   * locks the crew call, checks If-Match and the technicians, deletes, upserts, marks the change and
   * renders the answer in one statement; with an Idempotency-Key, the same statement takes the key and
   * stores that answer (as CalendarService.replace).
   */
  async replace(
    key: CrewCallKey,
    assignments: AssignmentInput[],
    ifMatch: IfMatch | undefined,
    author: Author,
  ): Promise<RenderedRoster> {
    const roster = JSON.stringify(
      assignments.map((a) => ({ technician_id: a.technicianId, role: a.role ?? null })),
    )
    const versions = ifMatchVersions(ifMatch)
    const [result] = await this.write(
      (idempotency) =>
        // The database must decide: take the key, lock, compare, check, delete, upsert, mark, render and
        // store as one statement.
        this.deps.prisma.$queryRaw<ReplaceRosterRow[]>`
        SELECT * FROM replace_roster(${key.jobId}, ${key.department}, ${versions}::int[], ${roster}::jsonb,
                                     ${this.deps.syncDebounceMs}::int, ${author.actor}, ${author.requestId}, NULL,
                                     ${idempotency}::jsonb)`,
    ).finally(() => forgetIfLarge(roster))
    if (!result) throw new Error('replace_roster returned no row')
    if (!result.crew_call_exists) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    if (result.precondition_failed) checkIfMatch(ifMatch, result.version)
    if (result.unknown_technicians) {
      throw new ValidationError(
        result.unknown_technicians.map((index) => ({
          in: 'body',
          pointer: `/assignments/${index}/technicianId`,
          detail: `unknown technician ${assignments[index]?.technicianId}`,
        })),
      )
    }
    if (result.created + result.updated + result.deleted > 0) this.deps.onSyncDue?.(this.deps.syncDebounceMs)
    return toReplaceResult(result)
  }

  /**
   * Makes the roster equal to what it was at `version`, as a new version recorded as a restore: a
   * roster change like any (serialized under the crew call's lock, synced to Flex), answered like a
   * replace. A version no longer kept: 404 version-pruned; one never reached: 404; a technician of
   * that version deleted since: 409.
   */
  async restore(
    key: CrewCallKey,
    version: number,
    ifMatch: IfMatch | undefined,
    author: Author,
  ): Promise<RenderedRoster> {
    const versions = ifMatchVersions(ifMatch)
    const [result] = await this.write(
      (idempotency) =>
        // The database must decide: rebuild the version and replace with it under the crew call's lock.
        this.deps.prisma.$queryRaw<(ReplaceRosterRow & { version_available: boolean })[]>`
        SELECT * FROM restore_roster(${key.jobId}, ${key.department}, ${version}::int, ${versions}::int[],
                                     ${this.deps.syncDebounceMs}::int, ${author.actor}, ${author.requestId},
                                     ${idempotency}::jsonb)`,
    )
    if (!result) throw new Error('restore_roster returned no row')
    if (!result.crew_call_exists) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
    if (!result.version_available) throw versionOutOfHistory(version, result.version, rosterName(key))
    if (result.precondition_failed) checkIfMatch(ifMatch, result.version)
    if (result.unknown_technicians) {
      throw new ConflictError(
        `version ${version} names technicians deleted since (${result.unknown_technicians.length}); it cannot be restored`,
      )
    }
    if (result.created + result.updated + result.deleted > 0) this.deps.onSyncDue?.(this.deps.syncDebounceMs)
    return toReplaceResult(result)
  }

  /** Runs a roster function, with the request's Idempotency-Key when it has one (taken in the same statement). */
  private async write<Row extends ReplaceRosterRow>(
    call: (idempotency: string | null) => Promise<Row[]>,
  ): Promise<Row[]> {
    const key = this.deps.currentKey()
    return key ? key.inStatement(call) : call(null)
  }

  /** Puts one technician on the roster, or changes their role; a no-op when it is already so. */
  async upsertOne(
    key: CrewCallKey,
    technicianId: string,
    role: string | null,
    ifMatch: IfMatch | undefined,
    author: Author,
  ): Promise<{ assignment: AssignmentView; created: boolean; version: number }> {
    return this.deps.runInTransaction(async (tx) => {
      const crewCall = await lockCrewCall(tx, key)
      checkIfMatch(ifMatch, crewCall.version)
      await requireTechnicians(tx, [technicianId], () => ({ in: 'path', pointer: '/technicianId' }))
      // The crew call's lock is held: nobody else writes this roster between the read and the upsert.
      const assignmentKey = { crewCallId_technicianId: { crewCallId: crewCall.id, technicianId } }
      const current = await tx.crewAssignment.findUnique({ where: assignmentKey, select: ASSIGNMENT_VIEW })
      if (current && current.role === role)
        return { assignment: toView(current), created: false, version: crewCall.version }
      const assignment = await tx.crewAssignment.upsert({
        where: assignmentKey,
        create: { crewCallId: crewCall.id, technicianId, role },
        update: { role, updatedAt: new Date() },
        select: ASSIGNMENT_VIEW,
      })
      const version = await this.markChanged(tx, crewCall.id, author, [
        {
          technician_id: technicianId,
          change: current ? 'updated' : 'created',
          before: current ? { role: current.role } : null,
        },
      ])
      return { assignment: toView(assignment), created: !current, version }
    })
  }

  /** Takes a technician off the roster; absent already is fine. */
  async removeOne(
    key: CrewCallKey,
    technicianId: string,
    ifMatch: IfMatch | undefined,
    author: Author,
  ): Promise<{ version: number }> {
    return this.deps.runInTransaction(async (tx) => {
      const crewCall = await lockCrewCall(tx, key)
      checkIfMatch(ifMatch, crewCall.version)
      const assignmentKey = { crewCallId_technicianId: { crewCallId: crewCall.id, technicianId } }
      const removed = await tx.crewAssignment
        .delete({ where: assignmentKey, select: { role: true } })
        .catch((error: unknown) => {
          if (isRecordNotFound(error)) return null // absent already
          throw error
        })
      if (!removed) return { version: crewCall.version }
      const change: RosterChangeRecord = {
        technician_id: technicianId,
        change: 'deleted',
        before: { role: removed.role },
      }
      return { version: await this.markChanged(tx, crewCall.id, author, [change]) }
    })
  }

  /**
   * A roster change (the SQL function mark_roster_changed): the next version with the change in the
   * roster's history, and a reconcile of the crew call scheduled in the same statement, so the change and the need to sync it commit together (a crash after the commit
   * cannot lose it).
   */
  private async markChanged(
    tx: Tx,
    crewCallId: string,
    author: Author,
    changes: RosterChangeRecord[],
  ): Promise<number> {
    const [row] = await tx.$queryRaw<{ version: number | null }[]>`
      SELECT mark_roster_changed(${crewCallId}::uuid, ${this.deps.syncDebounceMs}::int, ${author.actor},
                                 ${author.requestId}, ${JSON.stringify(changes)}::jsonb) AS version`
    if (row?.version == null) throw new Error('crew call vanished while locked')
    // This instance's workers look when the reconcile falls due (the NOTIFY tells every instance too).
    this.deps.onSyncDue?.(this.deps.syncDebounceMs)
    return row.version
  }
}

/** A replace's (or restore's) answer from the function's row. */
function toReplaceResult(row: ReplaceRosterRow): RenderedRoster {
  if (row.answer === null) throw new Error('the roster function refused a write it was not asked to refuse')
  return { version: row.version, json: row.answer }
}

/** Locks the crew call's row: roster writes of one crew call queue here. */
async function lockCrewCall(tx: Tx, key: CrewCallKey): Promise<{ id: string; version: number }> {
  const [row] = await tx.$queryRaw<{ id: string; version: number }[]>`
    SELECT id, version FROM crew_calls WHERE job_id = ${key.jobId} AND department = ${key.department} FOR UPDATE`
  if (!row) throw new NotFoundError(`no ${crewCallName(key.jobId, key.department)}`)
  return row
}

async function requireTechnicians(
  tx: Tx,
  technicianIds: string[],
  fieldAt: (index: number) => { in: 'body' | 'path'; pointer: string },
): Promise<void> {
  const known = await tx.technician.findMany({ where: { id: { in: technicianIds } }, select: { id: true } })
  const knownIds = new Set(known.map((technician) => technician.id))
  const unknown = technicianIds
    .map((technicianId, index) => ({ technicianId, index }))
    .filter(({ technicianId }) => !knownIds.has(technicianId))
  if (unknown.length === 0) return
  throw new ValidationError(
    unknown.map(({ technicianId, index }) => ({
      ...fieldAt(index),
      detail: `unknown technician ${technicianId}`,
    })),
  )
}

/** The columns of an assignment's view. */
const ASSIGNMENT_VIEW = { technicianId: true, role: true, flexLineItemId: true, syncedAt: true } as const

function toView(row: AssignmentRecord): AssignmentView {
  return { ...row, syncedAt: row.syncedAt?.toISOString() ?? null }
}

const sortByTechnician = (assignments: AssignmentView[]) => sortBy(assignments, (a) => a.technicianId)
