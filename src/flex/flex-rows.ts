/**
 * Reading an element's row-data answer. Flex never published the shape of a row: the fields read here
 * are the ones public callers of real Flex guess at (see test/fixtures/flex/README.md). So a row is
 * read field by field into what it claims, and judged only afterwards (./crew-lines.ts), against what
 * rostersync can verify: a resource id that belongs to a known technician.
 */

/** What a row says of its business role. */
export type RoleReading =
  /** The row has no role field at all (the tenant does not send roles in row data). */
  | { state: 'absent' }
  /** A role id, or null for a line with no role. */
  | { state: 'read'; id: string | null }
  /** A plain value in the code-keyed `business-role` column: an id, or perhaps the role's name. */
  | { state: 'ambiguous'; value: string }

export interface FlexRow {
  /** Where the row stands in the answer: "3", or "3.children.0" for a row nested in a container. */
  position: string
  lineItemId: string | null
  /** managedResourceLineItemType (or `type` on older tenants), lower-cased; null when absent. */
  kind: string | null
  /** Every resource id the row names in a field that holds ids; more than one is a conflict. */
  resourceIds: string[]
  /** A plain value in the code-keyed `contact` column: a resource id, or perhaps a display name. */
  contactValue: string | null
  role: RoleReading
  /** A container row (it has children, or says container / not leaf): a grouping, not a booking. */
  container: boolean
  /** The row's field names, for messages: never its values, which hold names and notes. */
  fields: string[]
  /** Fields present but unreadable (an id that is an object, two kinds that disagree, ...). */
  unreadable: string[]
}

type Json = Record<string, unknown>

/**
 * Field names a row keeps for messages: a row's reading costs a bounded amount of memory whatever the
 * row holds (a hostile row of 100,000 keys keeps 32 names), beside the answer's own bound
 * (FLEX_MAX_ANSWER_BYTES).
 */
const MAX_FIELD_NAMES = 32

/** The rows of a row-data answer, containers' children included (depth first); null if not an array. */
export function readRows(body: unknown): FlexRow[] | null {
  if (!Array.isArray(body)) return null
  const rows: FlexRow[] = []
  const walk = (items: unknown[], prefix: string) => {
    items.forEach((item, index) => {
      const position = `${prefix}${index}`
      const row = readRow(item, position)
      rows.push(row)
      if (isObject(item) && Array.isArray(item.children)) walk(item.children, `${position}.children.`)
    })
  }
  walk(body, '')
  return rows
}

function readRow(item: unknown, position: string): FlexRow {
  if (!isObject(item)) {
    return {
      position,
      lineItemId: null,
      kind: null,
      resourceIds: [],
      contactValue: null,
      role: { state: 'absent' },
      container: false,
      fields: [],
      unreadable: ['the row is not an object'],
    }
  }
  const unreadable: string[] = []
  const id = (field: string, value: unknown): string | null => {
    if (value === undefined || value === null || value === '') return null
    const text = idText(value)
    if (text === null) unreadable.push(`${field} is not an id`)
    return text
  }

  const kinds = [
    ['managedResourceLineItemType', item.managedResourceLineItemType],
    ['type', item.type],
  ].filter(([, value]) => value !== undefined && value !== null && value !== '')
  const kindTexts = new Set<string>()
  for (const [field, value] of kinds) {
    if (typeof value === 'string') kindTexts.add(value.trim().toLowerCase())
    else unreadable.push(`${field} is not text`)
  }
  if (kindTexts.size > 1) unreadable.push('managedResourceLineItemType and type disagree')

  const resource = fieldObject(item, 'resource', unreadable)
  const contact = item.contact
  const contactObject = isObject(contact) ? contact : undefined
  const contactData = contactObject && isObject(contactObject.data) ? contactObject.data : undefined
  const resourceIds = new Set(
    [
      id('resourceId', item.resourceId),
      id('resource.id', resource?.id),
      id('resource.resourceId', resource?.resourceId),
      id('contact.id', contactObject?.id),
      id('contact.resourceId', contactObject?.resourceId),
      contactData ? id('contact.data.id', contactData.id) : id('contact.data', contactObject?.data),
      contactData ? id('contact.data.resourceId', contactData.resourceId) : null,
    ].filter((value) => value !== null),
  )
  const contactValue = contactObject ? null : id('contact', contact)

  const children = item.children
  if (children !== undefined && children !== null && !Array.isArray(children))
    unreadable.push('children is not a list')

  return {
    position,
    lineItemId: id('id', item.id),
    kind: kindTexts.size === 1 ? ([...kindTexts][0] ?? null) : null,
    resourceIds: [...resourceIds],
    contactValue,
    role: readRole(item, id, unreadable),
    container: Array.isArray(children) || item.container === true || item.leaf === false,
    fields: Object.keys(item).slice(0, MAX_FIELD_NAMES),
    unreadable,
  }
}

/** The role from businessRoleId, businessRole.id, or the code-keyed business-role column, in that order. */
function readRole(
  item: Json,
  id: (field: string, value: unknown) => string | null,
  unreadable: string[],
): RoleReading {
  if ('businessRoleId' in item) return { state: 'read', id: id('businessRoleId', item.businessRoleId) }
  if ('businessRole' in item) {
    const role = fieldObject(item, 'businessRole', unreadable)
    return { state: 'read', id: id('businessRole.id', role?.id) }
  }
  if (!('business-role' in item)) return { state: 'absent' }
  const column = item['business-role']
  if (!isObject(column)) {
    const value = id('business-role', column)
    return value === null ? { state: 'read', id: null } : { state: 'ambiguous', value }
  }
  // Flex's code-keyed answers elsewhere wrap a field as { fieldType, data }.
  if ('id' in column) return { state: 'read', id: id('business-role.id', column.id) }
  if (isObject(column.data)) return { state: 'read', id: id('business-role.data.id', column.data.id) }
  const value = id('business-role.data', column.data)
  return value === null ? { state: 'read', id: null } : { state: 'ambiguous', value }
}

function fieldObject(item: Json, field: string, unreadable: string[]): Json | undefined {
  const value = item[field]
  if (value === undefined || value === null) return undefined
  if (isObject(value)) return value
  unreadable.push(`${field} is not an object`)
  return undefined
}

/** Flex sends ids as strings (UUIDs) or, on some tenants, integers; from here on they are strings. */
/**
 * The longest id read from Flex: the API's bound on every id (MAX_ID_LENGTH in src/schemas/common.ts), so
 * every id a run records can be answered; a longer one is not an id we understand.
 */
const MAX_FLEX_ID_LENGTH = 1024

function idText(value: unknown): string | null {
  if (typeof value === 'string')
    return value.trim() === '' || value.length > MAX_FLEX_ID_LENGTH ? null : value
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return null
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
