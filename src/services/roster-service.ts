import type { PrismaClient } from '../db/prisma.ts'
import type { RunInTransaction, Tx } from '../db/transaction.ts'
import { NotFoundError, ValidationError } from '../errors/domain-errors.ts'
import type { IfMatch } from '../schemas/common.ts'
import type {
  AssignmentInput,
  AssignmentView,
  CrewCallWithRosterView,
  Department,
  ReplaceRosterResult,
  RosterView,
} from '../schemas/crew.ts'
import { crewCallName } from './crew-call-service.ts'
import { checkIfMatch } from './if-match.ts'
import { changedAnything, countChanges, type RowChange, sortBy } from './set-changes.ts'
import {
  LAST_RUN,
  SYNC_STATUS_COLUMNS,
  type SyncStatusRow,
  scheduleAfterChange,
  toSyncStatus,
} from './sync/sync-schedule.ts'

export interface RosterServiceDeps {
  prisma: PrismaClient
  runInTransaction: RunInTransaction
  /** SYNC_DEBOUNCE_MS: every roster change schedules a reconcile this long after it (SyncSchedule). */
  syncDebounceMs: number
}

type Nullable<T> = { [K in keyof T]: T[K] | null }

interface AssignmentRecord {
  technicianId: string
  role: string | null
  flexLineItemId: string | null
  syncedAt: Date | null
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
      SELECT cc.id, cc.flex_element_id AS "flexElementId", ${SYNC_STATUS_COLUMNS},
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

  /** Makes the roster exactly `assignments`; the version rises by 1 only when something changed. */
  async replace(
    key: CrewCallKey,
    assignments: AssignmentInput[],
    ifMatch?: IfMatch,
  ): Promise<ReplaceRosterResult> {
    const technicianIds = assignments.map((a) => a.technicianId)
    const roles = assignments.map((a) => a.role ?? null)
    return this.deps.runInTransaction(async (tx) => {
      const crewCall = await lockCrewCall(tx, key)
      checkIfMatch(ifMatch, crewCall.version)
      await requireTechnicians(tx, technicianIds, (index) => ({
        in: 'body',
        pointer: `/assignments/${index}/technicianId`,
      }))
      const { count: deleted } = await tx.crewAssignment.deleteMany({
        where: { crewCallId: crewCall.id, technicianId: { notIn: technicianIds } },
      })
      const changed = await upsertAssignments(tx, crewCall.id, technicianIds, roles)
      const changes = countChanges(changed, deleted)
      changes.unchanged = assignments.length - changes.created - changes.updated
      const version = changedAnything(changes) ? await this.bumpVersion(tx, crewCall.id) : crewCall.version
      const rows = await readAssignments(tx, crewCall.id)
      return { version, assignments: sortByTechnician(rows.map(toView)), changes }
    })
  }

  /** Puts one technician on the roster, or changes their role; a no-op when it is already so. */
  async upsertOne(
    key: CrewCallKey,
    technicianId: string,
    role: string | null,
    ifMatch?: IfMatch,
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
      const version = await this.bumpVersion(tx, crewCall.id)
      return { assignment: toView(assignment), created: !current, version }
    })
  }

  /** Takes a technician off the roster; absent already is fine. */
  async removeOne(key: CrewCallKey, technicianId: string, ifMatch?: IfMatch): Promise<{ version: number }> {
    return this.deps.runInTransaction(async (tx) => {
      const crewCall = await lockCrewCall(tx, key)
      checkIfMatch(ifMatch, crewCall.version)
      const { count: deleted } = await tx.crewAssignment.deleteMany({
        where: { crewCallId: crewCall.id, technicianId },
      })
      return { version: deleted > 0 ? await this.bumpVersion(tx, crewCall.id) : crewCall.version }
    })
  }

  /**
   * A roster change: the next version, and a reconcile of the crew call scheduled in the same
   * statement, so the change and the need to sync it commit together (a crash after the commit
   * cannot lose it).
   */
  private async bumpVersion(tx: Tx, crewCallId: string): Promise<number> {
    const [row] = await tx.$queryRaw<{ version: number }[]>`
      UPDATE crew_calls SET version = version + 1, updated_at = now(), ${scheduleAfterChange(this.deps.syncDebounceMs)}
       WHERE id = ${crewCallId}::uuid RETURNING version`
    if (!row) throw new Error('crew call vanished while locked')
    return row.version
  }
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

/** One statement for any number of rows; returns only the rows it created or changed. */
function upsertAssignments(tx: Tx, crewCallId: string, technicianIds: string[], roles: (string | null)[]) {
  return tx.$queryRaw<{ technician_id: string; change: RowChange }[]>`
    INSERT INTO crew_assignments AS ca (crew_call_id, technician_id, role)
    SELECT ${crewCallId}::uuid, t.technician_id, t.role
      FROM unnest(${technicianIds}::text[], ${roles}::text[]) AS t(technician_id, role)
    ON CONFLICT (crew_call_id, technician_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()
     WHERE ca.role IS DISTINCT FROM EXCLUDED.role
    RETURNING ca.technician_id, CASE WHEN ca.xmax = 0 THEN 'created' ELSE 'updated' END AS change`
}

/** The columns of an assignment's view. */
const ASSIGNMENT_VIEW = { technicianId: true, role: true, flexLineItemId: true, syncedAt: true } as const

function readAssignments(tx: Tx, crewCallId: string) {
  return tx.crewAssignment.findMany({ where: { crewCallId }, select: ASSIGNMENT_VIEW })
}

function toView(row: AssignmentRecord): AssignmentView {
  return { ...row, syncedAt: row.syncedAt?.toISOString() ?? null }
}

const sortByTechnician = (assignments: AssignmentView[]) => sortBy(assignments, (a) => a.technicianId)
