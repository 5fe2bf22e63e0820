import type { HistoryVersionView } from '../schemas/calendar-history.ts'
import { decodeCursor, toPage } from './pagination.ts'

/** A history version row as Prisma reads it (calendar_versions, roster_versions). */
export interface HistoryVersionRow {
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
