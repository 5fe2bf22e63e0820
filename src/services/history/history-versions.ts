import {
  type DomainError,
  HistoryGoneError,
  NotFoundError,
  ValidationError,
  VersionPrunedError,
} from '../../errors/domain-errors.ts'
import type { HistoryVersionView } from '../calendars/calendar-history-schemas.ts'
import { decodeCursor, toPage } from '../pagination.ts'

/** How much history calendar sets and rosters keep, and how it is pruned. */
export interface HistoryOptions {
  /** HISTORY_KEEP_VERSIONS: the last this many versions are kept, however old. */
  keepVersions: number
  /** HISTORY_KEEP_DAYS: every version younger than this is kept, however many. */
  keepDays: number
  /** Versions deleted per statement when pruning. */
  pruneBatch?: number
}

/** Where a set's (or roster's) kept history ends: its current version, and the oldest one that rebuilds. */
export interface HistoryBounds {
  current_version: number
  floor_version: number
}

/**
 * Why `version` of `subject` (e.g. `the set of alice`) cannot be read or restored: 404 when it never
 * reached it, 404 version-pruned when it is no longer kept.
 */
export function versionOutOfHistory(version: number, currentVersion: number, subject: string): DomainError {
  if (version > currentVersion) return new NotFoundError(`${subject} is at version ${currentVersion}`)
  return new VersionPrunedError(`version ${version} of ${subject} is no longer kept`)
}

/**
 * Why the changes since `since` cannot be told: 410 when the history since then is pruned (the client
 * re-reads the `whole` set or roster), 400 naming the query's `since` when it is ahead of the current version.
 */
export function sinceOutOfHistory(
  since: number,
  bounds: HistoryBounds,
  subject: string,
  whole: 'set' | 'roster',
): DomainError {
  if (since < bounds.floor_version) {
    return new HistoryGoneError(
      `the history of ${subject} before version ${bounds.floor_version} is no longer kept; read the whole ${whole}`,
    )
  }
  return new ValidationError([
    {
      in: 'query',
      pointer: '/since',
      detail: `${subject} is at version ${bounds.current_version}; since cannot be newer`,
    },
  ])
}

/** A history version row as Prisma reads it (calendar_versions, roster_versions). */
interface HistoryVersionRow {
  version: number
  changedAt: Date
  actor: string
  requestId: string | null
  created: number
  updated: number
  deleted: number
  restoredFrom: number | null
}

/** The version a history page's cursor points below (pages go newest first); undefined for the first page. */
export function versionBefore(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined
  const [version] = decodeCursor(cursor, 1, ([v]) => /^\d{1,10}$/.test(v ?? ''))
  return Number(version)
}

/** A page of history versions from rows read newest first with `take: limit + 1`. */
export function historyPage(
  rows: HistoryVersionRow[],
  limit: number,
): { versions: HistoryVersionView[]; nextCursor: string | null } {
  const { items, nextCursor } = toPage(rows, limit, (row) => [String(row.version)])
  return {
    versions: items.map((row) => ({
      version: row.version,
      changedAt: row.changedAt.toISOString(),
      actor: row.actor,
      requestId: row.requestId,
      changes: { created: row.created, updated: row.updated, deleted: row.deleted },
      restoredFrom: row.restoredFrom,
    })),
    nextCursor,
  }
}

/** Runs a prune of at most `batchSize` versions until one deletes fewer, `maxBatches` at most; returns how many. */
export async function pruneInBatches(
  pruneBatch: (batchSize: number) => Promise<number>,
  batchSize: number,
  maxBatches = 10,
): Promise<number> {
  let pruned = 0
  for (let batch = 0; batch < maxBatches; batch++) {
    const deleted = await pruneBatch(batchSize)
    pruned += deleted
    if (deleted < batchSize) break
  }
  return pruned
}
