import { table } from './format.ts'
import { type Html, html } from './html.ts'

export interface FieldChange {
  field: string
  before: unknown
  after: unknown
}

export interface SetDiff<T> {
  created: T[]
  updated: { item: T; fields: FieldChange[] }[]
  deleted: T[]
}

/** What changed from `then` to `now` in a keyed set: created, updated (with the fields), deleted. */
export function diffSets<T extends object>(
  then: T[],
  now: T[],
  key: keyof T,
  fields: readonly (keyof T)[],
): SetDiff<T> {
  const before = new Map(then.map((item) => [item[key], item]))
  const after = new Map(now.map((item) => [item[key], item]))
  const diff: SetDiff<T> = { created: [], updated: [], deleted: [] }
  for (const [id, item] of after) {
    const old = before.get(id)
    if (old === undefined) {
      diff.created.push(item)
      continue
    }
    const changed = fields
      .filter((field) => JSON.stringify(old[field]) !== JSON.stringify(item[field]))
      .map((field) => ({ field: String(field), before: old[field], after: item[field] }))
    if (changed.length > 0) diff.updated.push({ item, fields: changed })
  }
  for (const [id, item] of before) if (!after.has(id)) diff.deleted.push(item)
  return diff
}

const shown = (value: unknown) => (value === null || value === undefined ? '—' : String(value))

/** A diff as a table: one row per created, updated or deleted item, the changed fields spelled out. */
export function diffTable<T extends object>(diff: SetDiff<T>, key: keyof T, label: string): Html {
  const rows = [
    ...diff.created.map((item) => html`<tr><td>created</td><td>${shown(item[key])}</td><td></td></tr>`),
    ...diff.updated.map(
      ({ item, fields }) =>
        html`<tr><td>updated</td><td>${shown(item[key])}</td><td><ul class="fields">${fields.map(
          (change) =>
            html`<li><code>${change.field}</code>: ${shown(change.before)} → ${shown(change.after)}</li>`,
        )}</ul></td></tr>`,
    ),
    ...diff.deleted.map((item) => html`<tr><td>deleted</td><td>${shown(item[key])}</td><td></td></tr>`),
  ]
  return table(['change', label, 'fields that changed'], rows, 'No difference: the set is the same as now.')
}
