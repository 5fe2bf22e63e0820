import type { FlexRow } from './flex-rows.ts'

/** One technician (or another contact) booked on one Flex element. */
export interface CrewLine {
  lineItemId: string
  /** The contact's Flex resource id. */
  resourceId: string
  /**
   * The line's business role id; null when the line has none. Undefined when the row does not say, or
   * says it in a way that cannot be told from a role's name: then the role last set is trusted.
   */
  businessRoleId?: string | null
  /** Where the row stood in Flex's answer. */
  position: string
}

interface SkippedRow {
  position: string
  lineItemId: string | null
  reason: string
}

interface UnclassifiableRow {
  position: string
  /** Field names only: values may hold personal data. */
  fields: string[]
  reason: string
}

interface Classification {
  /** Technicians' lines, and lines of contacts rostersync does not know (the plan leaves those alone). */
  lines: CrewLine[]
  skipped: SkippedRow[]
  /** Rows that might be crew lines but cannot be read: any one of them stops a sync before it acts. */
  unclassifiable: UnclassifiableRow[]
  /** Lines of known technicians whose business role could not be read from the row. */
  rolesUnread: number
}

interface Knowledge {
  /** True for a resource id that belongs to a known technician. */
  isKnownResource: (resourceId: string) => boolean
  /** True for a configured business role id. */
  isKnownRole: (roleId: string) => boolean
}

/** Flex's ids are UUIDs: a UUID in a column that may hold names is an id, not a name. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Sorts rows by what can be verified, never by a label alone:
 * - a row whose resource is a known technician is that technician's line, whatever its kind says;
 * - a row of an explicit other kind (equipment, labor, ...) or a container without a resource is
 *   skipped;
 * - a row that says it is a contact, or says nothing, is a contact's line when its resource id can be
 *   read, and unclassifiable when it cannot: it may be a technician's line, so nobody can say who is
 *   booked, and the sync must not act (an add could duplicate that line).
 */
export function classifyRows(rows: FlexRow[], knowledge: Knowledge): Classification {
  const result: Classification = { lines: [], skipped: [], unclassifiable: [], rolesUnread: 0 }
  const unclassifiable = (row: FlexRow, reason: string) =>
    result.unclassifiable.push({ position: row.position, fields: row.fields, reason })

  for (const row of rows) {
    const skip = (reason: string) =>
      result.skipped.push({ position: row.position, lineItemId: row.lineItemId, reason })
    const contactId = contactAsId(row.contactValue, knowledge)
    const namesKnown = [...row.resourceIds, contactId].some(
      (id) => id !== null && knowledge.isKnownResource(id),
    )
    const otherKind = row.kind !== null && row.kind !== 'contact'
    if (otherKind && !namesKnown) {
      skip(`kind ${row.kind}`)
      continue
    }
    if (row.unreadable.length > 0) {
      unclassifiable(row, row.unreadable.join('; '))
      continue
    }
    if (row.resourceIds.length > 1) {
      unclassifiable(row, `it names ${row.resourceIds.length} different resources`)
      continue
    }
    const resourceId = row.resourceIds[0] ?? contactId
    if (resourceId === null) {
      if (row.container) skip('container')
      else if (row.contactValue !== null)
        unclassifiable(row, 'its contact column holds a value that is neither an id nor a known resource')
      else
        unclassifiable(
          row,
          `${row.kind === null ? 'no kind field and' : 'a contact row with'} no resource id`,
        )
      continue
    }
    if (row.lineItemId === null) {
      unclassifiable(row, 'a line of a contact without a line id')
      continue
    }
    const businessRoleId = roleOf(row, knowledge)
    if (knowledge.isKnownResource(resourceId) && businessRoleId === undefined) result.rolesUnread++
    result.lines.push({
      lineItemId: row.lineItemId,
      resourceId,
      position: row.position,
      ...(businessRoleId !== undefined && { businessRoleId }),
    })
  }
  return result
}

/** Every resource id a row might name, for looking up which are known technicians. */
export function candidateResourceIds(rows: FlexRow[]): string[] {
  const ids = new Set<string>()
  for (const row of rows) {
    for (const id of row.resourceIds) ids.add(id)
    if (row.contactValue !== null) ids.add(row.contactValue)
  }
  return [...ids]
}

/** The message a sync fails with when rows cannot be classified. */
export function describeUnclassifiable(rows: UnclassifiableRow[]): string {
  const shown = rows
    .slice(0, 5)
    .map((row) => `row ${row.position} (fields: ${row.fields.join(', ') || 'none'}): ${row.reason}`)
  const more = rows.length > 5 ? `; and ${rows.length - 5} more` : ''
  return `${rows.length} row(s) of the answer cannot be classified, so nobody can tell who is booked: ${shown.join('; ')}${more}`
}

function contactAsId(value: string | null, knowledge: Knowledge): string | null {
  if (value === null) return null
  return UUID.test(value) || knowledge.isKnownResource(value) ? value : null
}

function roleOf(row: FlexRow, knowledge: Knowledge): string | null | undefined {
  switch (row.role.state) {
    case 'absent':
      return undefined
    case 'read':
      return row.role.id
    case 'ambiguous':
      return UUID.test(row.role.value) || knowledge.isKnownRole(row.role.value) ? row.role.value : undefined
  }
}
