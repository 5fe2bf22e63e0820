import type { CrewLine } from '../../flex/crew-lines.ts'

/** A technician on the roster, with what the database recorded of their line in Flex. */
export interface RosterEntry {
  technicianId: string
  flexResourceId: string
  role: string | null
  flexLineItemId: string | null
  flexBusinessRoleId: string | null
}

export interface ReconcilePlan {
  /** Technicians whose recorded line is no longer theirs in Flex: forgotten before anything else. */
  forgetLine: string[]
  /** Existing lines to record for rostered technicians (found by resource, not recorded by us). */
  adopt: { technicianId: string; lineItemId: string; businessRoleId: string | null }[]
  /** Rostered technicians with no line; `repair` when the line we had recorded vanished. */
  add: { technicianId: string; flexResourceId: string; repair: boolean; businessRoleId?: string }[]
  /** Kept or adopted lines whose business role differs from the configured one. */
  setRole: { technicianId: string; lineItemId: string; businessRoleId: string }[]
  /** Lines of known technicians off the roster, and extra lines of one technician. */
  remove: { lineItemId: string; technicianId: string; reason: 'not-on-roster' | 'duplicate' }[]
  /** Rostered technicians whose line and role are already right. */
  unchanged: string[]
  /** Lines of contacts we do not know: never touched. */
  ignored: string[]
}

interface PlanInput {
  roster: RosterEntry[]
  /** The element's crew lines, read from Flex inside the sync's lease. */
  lines: CrewLine[]
  /** Every known technician among the lines' resources: resource id -> technician id. */
  technicianByResource: Map<string, string>
  /** The business role id Flex should show for a role code; undefined when none is configured. */
  businessRoleFor: (role: string | null) => string | undefined
}

/**
 * What a sync must do so that Flex holds exactly one line per rostered technician and none for known
 * technicians off the roster. Lines are matched to technicians by resource, so a line created by an
 * earlier run whose id was never recorded is adopted rather than duplicated. Pure: the same input
 * always gives the same plan, and a plan for a converged crew call is empty but for `unchanged`.
 */
export function planReconcile({
  roster,
  lines,
  technicianByResource,
  businessRoleFor,
}: PlanInput): ReconcilePlan {
  const plan: ReconcilePlan = {
    forgetLine: [],
    adopt: [],
    add: [],
    setRole: [],
    remove: [],
    unchanged: [],
    ignored: [],
  }
  const linesByResource = groupBy(lines, (line) => line.resourceId)
  const rostered = new Set<string>()

  for (const entry of roster) {
    rostered.add(entry.flexResourceId)
    const candidates = linesByResource.get(entry.flexResourceId) ?? []
    const kept = candidates.find((line) => line.lineItemId === entry.flexLineItemId) ?? firstById(candidates)
    const desiredRole = businessRoleFor(entry.role)
    if (entry.flexLineItemId !== null && kept?.lineItemId !== entry.flexLineItemId)
      plan.forgetLine.push(entry.technicianId)
    for (const extra of candidates) {
      if (extra !== kept)
        plan.remove.push({
          lineItemId: extra.lineItemId,
          technicianId: entry.technicianId,
          reason: 'duplicate',
        })
    }
    if (!kept) {
      plan.add.push({
        technicianId: entry.technicianId,
        flexResourceId: entry.flexResourceId,
        repair: entry.flexLineItemId !== null,
        ...(desiredRole !== undefined && { businessRoleId: desiredRole }),
      })
      continue
    }
    const adopted = kept.lineItemId !== entry.flexLineItemId
    const currentRole =
      kept.businessRoleId !== undefined ? kept.businessRoleId : adopted ? null : entry.flexBusinessRoleId
    if (adopted)
      plan.adopt.push({
        technicianId: entry.technicianId,
        lineItemId: kept.lineItemId,
        businessRoleId: currentRole,
      })
    const roleDiffers = desiredRole !== undefined && desiredRole !== currentRole
    if (roleDiffers)
      plan.setRole.push({
        technicianId: entry.technicianId,
        lineItemId: kept.lineItemId,
        businessRoleId: desiredRole,
      })
    if (!adopted && !roleDiffers) plan.unchanged.push(entry.technicianId)
  }

  for (const [resourceId, resourceLines] of linesByResource) {
    if (rostered.has(resourceId)) continue
    const technicianId = technicianByResource.get(resourceId)
    for (const line of resourceLines) {
      if (technicianId === undefined) plan.ignored.push(line.lineItemId)
      else plan.remove.push({ lineItemId: line.lineItemId, technicianId, reason: 'not-on-roster' })
    }
  }
  return plan
}

/** Flex calls a plan needs beyond the listing: each add, role set and remove (retries not foreseen). */
export function plannedCalls(plan: ReconcilePlan): number {
  const roleAfterAdd = plan.add.filter((item) => item.businessRoleId !== undefined).length
  return plan.add.length + roleAfterAdd + plan.setRole.length + plan.remove.length
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const group = groups.get(key(item))
    if (group) group.push(item)
    else groups.set(key(item), [item])
  }
  return groups
}

/** The oldest-looking line: numeric ids compare as numbers, others as strings. Deterministic. */
function firstById(lines: CrewLine[]): CrewLine | undefined {
  const order = (a: string, b: string) =>
    /^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0
  return [...lines].sort((a, b) => order(a.lineItemId, b.lineItemId))[0]
}
