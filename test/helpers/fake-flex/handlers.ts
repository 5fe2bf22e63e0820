import { z } from 'zod'
import type { Route } from './routes.ts'
import type { FakeFlexState } from './state.ts'
import { addAnswer, crewRow, type ResponseShape } from './wire.ts'

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
      if (route.query.get('codeList') !== 'contact' || route.query.get('node') !== 'root') {
        return { status: 400, body: { message: 'expected ?codeList=contact&node=root' } }
      }
      const crew = state.lines(route.elementId).map((line) => crewRow(line, shape))
      return { status: 200, body: [...crew, ...state.otherRows(route.elementId)] }
    }
    case 'add': {
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
