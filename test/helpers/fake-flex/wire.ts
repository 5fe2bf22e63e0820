import type { FakeLine } from './state.ts'

export type AddResponseShape =
  | 'id'
  | 'lineItemId'
  | 'data.id'
  | 'data.lineItemId'
  | 'addedResourceLineIds'
  | 'none'

/** The variants of Flex's answers seen across tenants and API versions. */
export interface ResponseShape {
  /** Where an add-resource answer puts the new line's id; 'none' answers `{}`. */
  add: AddResponseShape
  /** The field naming a row's kind: managedResourceLineItemType, or type on older tenants. */
  rowType: 'managedResourceLineItemType' | 'type'
  /** Where a crew row carries the technician's resource id. */
  rowResource: 'resourceId' | 'resource.id' | 'resource.resourceId'
  /** Where a crew row carries its business role (null when unset); 'none' leaves it out. */
  rowRole: 'businessRoleId' | 'businessRole.id' | 'none'
  /** 'number' sends every all-digit id as a JSON number. */
  ids: 'string' | 'number'
}

export const defaultShape: ResponseShape = {
  add: 'id',
  rowType: 'managedResourceLineItemType',
  rowResource: 'resourceId',
  rowRole: 'businessRoleId',
  ids: 'string',
}

/** A crew line as a row of the row-data list. */
export function crewRow(line: FakeLine, shape: ResponseShape): Record<string, unknown> {
  const id = (value: string) => wireId(value, shape)
  const role = line.businessRoleId === null ? null : id(line.businessRoleId)
  return {
    id: id(line.id),
    [shape.rowType]: 'contact',
    ...resourceFields(id(line.resourceId), shape),
    ...(shape.rowRole === 'businessRoleId' && { businessRoleId: role }),
    ...(shape.rowRole === 'businessRole.id' && { businessRole: role === null ? null : { id: role } }),
    quantity: 1,
  }
}

/** The body answering an add-resource that created `line`. */
export function addAnswer(line: FakeLine, shape: ResponseShape): Record<string, unknown> {
  const id = wireId(line.id, shape)
  switch (shape.add) {
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
  }
}

function wireId(value: string, shape: ResponseShape): string | number {
  return shape.ids === 'number' && /^\d+$/.test(value) ? Number(value) : value
}
