import type { FakeLine } from './state.ts'

/**
 * Where an add-resource answer names the new line. 'real' is the answer public callers of real Flex
 * type (test/fixtures/flex/add-answer.json); the others are older guesses; 'none' answers `{}`.
 */
export type AddResponseShape =
  | 'real'
  | 'id'
  | 'lineItemId'
  | 'data.id'
  | 'data.lineItemId'
  | 'addedResourceLineIds'
  | 'none'

/**
 * The variants of Flex's answers a caller of real Flex must handle (test/fixtures/flex/README.md says
 * which are observed in public callers and which inferred). The defaults are the shapes closest to
 * what those callers read.
 */
export interface ResponseShape {
  add: AddResponseShape
  /** The field naming a row's kind: managedResourceLineItemType, `type` on older tenants, or none. */
  rowType: 'managedResourceLineItemType' | 'type' | 'absent'
  /** How the kind is spelled. */
  kindSpelling: 'contact' | 'Contact' | 'CONTACT'
  /**
   * Where a crew row carries the technician's resource id; 'contact-column' is the code-keyed column
   * the list asks for (codeList=contact), as `{ "contact": { "id": ..., "name": ... } }`.
   */
  rowResource: 'resourceId' | 'resource.id' | 'resource.resourceId' | 'contact-column'
  /**
   * Where a crew row carries its business role (null when unset); 'business-role-column' is the
   * code-keyed column as `{ "business-role": { "fieldType": "business-role", "data": { "id", "name" } } }`;
   * 'none' leaves it out.
   */
  rowRole: 'businessRoleId' | 'businessRole.id' | 'business-role-column' | 'none'
  /** 'container' nests the crew lines under one container row (`children`), as Flex's tree does. */
  nesting: 'flat' | 'container'
  /** 'number' sends every all-digit id as a JSON number. */
  ids: 'string' | 'number'
  /** 'form' refuses (400) an add without the form body real callers send; 'any' takes a bare POST. */
  addBody: 'form' | 'any'
}

export const defaultShape: ResponseShape = {
  add: 'real',
  rowType: 'managedResourceLineItemType',
  kindSpelling: 'contact',
  rowResource: 'resourceId',
  rowRole: 'businessRoleId',
  nesting: 'flat',
  ids: 'string',
  addBody: 'form',
}

/** The element's rows as a row-data answer: crew lines (maybe nested), then the other rows. */
export function rowData(
  elementId: string,
  lines: FakeLine[],
  otherRows: Record<string, unknown>[],
  shape: ResponseShape,
): unknown[] {
  const crew = lines.map((line) => crewRow(line, shape))
  if (shape.nesting === 'flat' || crew.length === 0) return [...crew, ...otherRows]
  const container = {
    id: wireId(`container-${elementId}`, shape),
    [shape.rowType === 'absent' ? 'managedResourceLineItemType' : shape.rowType]: 'container',
    name: 'Crew',
    container: true,
    leaf: false,
    children: crew.map((row) => ({ ...row, rootLineId: `container-${elementId}` })),
  }
  return [container, ...otherRows]
}

/** A crew line as a row of the row-data list. */
export function crewRow(line: FakeLine, shape: ResponseShape): Record<string, unknown> {
  const id = (value: string) => wireId(value, shape)
  return {
    id: id(line.id),
    ...(shape.rowType !== 'absent' && { [shape.rowType]: shape.kindSpelling }),
    ...resourceFields(id(line.resourceId), shape),
    ...roleFields(line.businessRoleId === null ? null : id(line.businessRoleId), shape),
    quantity: 1,
    leaf: true,
    container: false,
    rootLineId: id(line.id),
  }
}

/** The body answering an add-resource that created `line`. */
export function addAnswer(line: FakeLine, shape: ResponseShape): Record<string, unknown> {
  const id = wireId(line.id, shape)
  switch (shape.add) {
    case 'real':
      return {
        addedResourceLineIds: [id],
        affectedRootLineIds: [id],
        addedNoteLineId: null,
        nonRootClonedLineIds: null,
      }
    case 'id':
      return { id }
    case 'lineItemId':
      return { lineItemId: id }
    case 'data.id':
      return { data: { id } }
    case 'data.lineItemId':
      return { data: { lineItemId: id } }
    case 'addedResourceLineIds':
      return { addedResourceLineIds: [id] }
    case 'none':
      return {}
  }
}

function resourceFields(resourceId: string | number, shape: ResponseShape): Record<string, unknown> {
  switch (shape.rowResource) {
    case 'resourceId':
      return { resourceId }
    case 'resource.id':
      return { resource: { id: resourceId } }
    case 'resource.resourceId':
      return { resource: { resourceId } }
    case 'contact-column':
      return { contact: { id: resourceId, name: `Contact ${resourceId}` } }
  }
}

function roleFields(role: string | number | null, shape: ResponseShape): Record<string, unknown> {
  switch (shape.rowRole) {
    case 'businessRoleId':
      return { businessRoleId: role }
    case 'businessRole.id':
      return { businessRole: role === null ? null : { id: role } }
    case 'business-role-column':
      return {
        'business-role': {
          fieldType: 'business-role',
          data: role === null ? null : { id: role, name: `Role ${role}` },
        },
      }
    case 'none':
      return {}
  }
}

function wireId(value: string, shape: ResponseShape): string | number {
  return shape.ids === 'number' && /^\d+$/.test(value) ? Number(value) : value
}
