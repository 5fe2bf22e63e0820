import type { SetChanges } from '../schemas/calendars.ts'

export type RowChange = 'created' | 'updated' | 'unchanged'

/**
 * The `changes` of a set replace, from the rows the upsert statement returned (each tagged with
 * what happened to it) and the number of rows the delete removed.
 */
export function countChanges(rows: { change: RowChange }[], deleted: number): SetChanges {
  const changes = { created: 0, updated: 0, deleted, unchanged: 0 }
  for (const row of rows) changes[row.change]++
  return changes
}

export const changedAnything = (changes: SetChanges) =>
  changes.created + changes.updated + changes.deleted > 0

/** Code-unit order by a string key: the same on every server, whatever the database's collation. */
export function sortBy<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    return ka < kb ? -1 : ka > kb ? 1 : 0
  })
}
