import {
  type CrewLine,
  candidateResourceIds,
  classifyRows,
  describeUnclassifiable,
} from '../../flex/crew-lines.ts'
import type { FlexPort } from '../../flex/flex-client.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import type { CrewCallView } from '../crew/crew-schemas.ts'
import type { CrewLineStore } from './crew-line-store.ts'

/** What Flex holds for a crew call, read and classified against the known technicians. */
export interface FlexCrew {
  lines: CrewLine[]
  /** Known technicians among the lines' resources: resource id -> technician id. */
  technicianByResource: Map<string, string>
  /** Lines of known technicians whose role the rows did not say readably. */
  rolesUnread: number
}

/**
 * Lists the element and classifies its rows (src/flex/crew-lines.ts). A row that might be a crew line
 * but cannot be read fails the read, as a bad-response FlexError naming the rows: nobody could then
 * tell who is booked, so no add or remove may follow.
 */
export async function readFlexCrew(
  flex: FlexPort,
  crewCall: CrewCallView,
  store: CrewLineStore,
  roleIds: ReadonlySet<string>,
): Promise<FlexCrew> {
  const rows = await flex.listRows(crewCall.flexElementId)
  const technicianByResource = await store.knownTechnicians(candidateResourceIds(rows))
  const classified = classifyRows(rows, {
    isKnownResource: (id) => technicianByResource.has(id),
    isKnownRole: (id) => roleIds.has(id),
  })
  if (classified.unclassifiable.length > 0) {
    const problem = describeUnclassifiable(classified.unclassifiable)
    throw new FlexError(`Flex list of element ${crewCall.flexElementId}: ${problem}`, {
      kind: 'bad-response',
      endpoint: 'list',
      attempts: 1,
    })
  }
  return { lines: classified.lines, technicianByResource, rolesUnread: classified.rolesUnread }
}
