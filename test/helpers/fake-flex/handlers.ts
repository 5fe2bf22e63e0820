import { z } from 'zod'
import type { Route } from './routes.ts'
import type { FakeFlexState } from './state.ts'
import { addAnswer, type ResponseShape, rowData } from './wire.ts'

export interface FakeAnswer {
  status: number
  /** Sent as JSON; a string is sent as it is. Absent: no body. */
  body?: unknown
  headers?: Record<string, string>
}

const flexId = z.union([z.string().min(1), z.number()]).transform(String)

const setRoleBody = z.strictObject({
  lineItemId: flexId,
  fieldType: z.literal('business-role'),
  payloadValue: flexId,
})

/** Performs one call on the state and returns Flex's answer to it. */
export function perform(route: Route, body: unknown, state: FakeFlexState, shape: ResponseShape): FakeAnswer {
  switch (route.endpoint) {
    case 'list': {
      if (!route.query.getAll('codeList').includes('contact') || route.query.get('node') !== 'root') {
        return { status: 400, body: { exceptionMessage: 'expected ?codeList=contact&node=root' } }
      }
      const { elementId } = route
      return {
        status: 200,
        body: rowData(elementId, state.lines(elementId), state.otherRows(elementId), shape),
      }
    }
    case 'add': {
      if (shape.addBody === 'form' && !isAddForm(body)) {
        return { status: 400, body: { exceptionMessage: 'managedResourceLineItemType is required' } }
      }
      const line = state.addLine(route.elementId, route.resourceId)
      return { status: 200, body: addAnswer(line, shape) }
    }
    case 'set-role': {
      const parsed = setRoleBody.safeParse(body)
      if (!parsed.success) return { status: 400, body: { message: z.prettifyError(parsed.error) } }
      const line = state.findLine(route.elementId, parsed.data.lineItemId)
      if (!line) return { status: 404, body: { message: 'no such line item on this element' } }
      line.businessRoleId = parsed.data.payloadValue
      return { status: 200, body: {} }
    }
    case 'remove':
      return state.removeLine(route.lineItemId)
        ? { status: 204 }
        : { status: 404, body: { message: 'no such line item' } }
  }
}

/** The form real callers send with an add (a string: the fake parses only JSON bodies). */
function isAddForm(body: unknown): boolean {
  if (typeof body !== 'string') return false
  const form = new URLSearchParams(body)
  return form.get('managedResourceLineItemType') === 'contact' && form.get('quantity') === '1'
}
