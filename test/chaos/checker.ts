import type { IntegrityReport } from '../../src/services/admin/integrity-schemas.ts'
import type { SyncRunView } from '../../src/services/sync/sync-schemas.ts'
import type { FakeFlex } from '../helpers/fake-flex/fake-flex.ts'
import { isProblemContentType } from '../helpers/problem.ts'
import type { FinalState } from './final-state.ts'
import type { Operation } from './history.ts'
import { checkRegisters } from './registers.ts'
import { ABSENT, businessRoleFor, EMPTY_SET } from './scenario.ts'

export interface CheckInput {
  operations: Operation[]
  final: FinalState
  integrity: IntegrityReport
  /** The run of the second final sync of every crew call: it must have found nothing to do. */
  secondSyncs: Map<string, SyncRunView>
  /** Servers that exited without being killed. */
  crashedServers: number[]
  /** Adds Flex received for a technician who already had a line there (FakeFlex.duplicateAdds). */
  duplicateAdds: FakeFlex['duplicateAdds']
}

const initialValue = (register: string) => (register.startsWith('assignment:') ? ABSENT : EMPTY_SET)

/** Every invariant of the chaos suite, checked against the history; returns what was violated. */
export function checkInvariants(input: CheckInput): string[] {
  return [
    ...checkRegisters(input.operations, input.final.registers, initialValue).map(
      (v) =>
        `register ${v.register} ${v.by ? `seen by operation ${v.by}` : 'in the end'} = ${v.seen}: ${v.problem}`,
    ),
    ...checkAnswers(input.operations),
    ...checkDuplicates(input.integrity),
    ...checkFlex(input.final),
    ...checkHistory(input.operations, input.final),
    ...input.duplicateAdds.map(
      (d) =>
        `Flex was asked to add ${d.resourceId} to ${d.elementId}, which already had line ${d.existingLineId}`,
    ),
    ...checkSecondSyncs(input.secondSyncs),
    ...(input.final.runningSyncs > 0 ? [`${input.final.runningSyncs} sync runs left running`] : []),
    ...input.crashedServers.map((server) => `server ${server} exited without being killed`),
  ]
}

/** No 5xx but 502/503, and every error answer is problem+json. */
export function checkAnswers(operations: Operation[]): string[] {
  const violations: string[] = []
  for (const op of operations) {
    if (op.status === undefined || op.status < 400) continue
    const where = `operation ${op.id} (${op.method} ${op.path}) answered ${op.status}`
    if (op.status >= 500 && op.status !== 502 && op.status !== 503)
      violations.push(`${where} ${op.error ?? ''}`)
    if (!isProblemContentType(op.contentType))
      violations.push(`${where} as ${op.contentType}, not problem+json`)
  }
  return violations
}

/**
 * Every calendar set's and roster's history has no gap up to its current version, and every
 * acknowledged replace is in it: the set rebuilt at the version it answered is the set it wrote.
 */
export function checkHistory(operations: Operation[], final: FinalState): string[] {
  const violations: string[] = []
  for (const [register, { current, versions }] of final.histories) {
    const first = versions[0] ?? current + 1
    const expected = Array.from({ length: current - first + 1 }, (_, i) => first + i)
    if (versions.join() !== expected.join())
      violations.push(`${register}: history versions ${versions.join(',')} up to ${current} have a gap`)
  }
  for (const op of operations) {
    if (op.outcome !== 'ok' || op.version === undefined || !op.register) continue
    const rebuilt = final.historyAt.get(`${op.register} ${op.version}`)
    if (rebuilt !== op.value)
      violations.push(
        `operation ${op.id} wrote ${op.register} at version ${op.version}, but the history holds ${rebuilt ?? 'nothing'} there`,
      )
  }
  return violations
}

export function checkDuplicates(integrity: IntegrityReport): string[] {
  return [
    ...integrity.duplicates
      .filter((d) => d.groups > 0)
      .map((d) => `${d.groups} duplicate groups of ${d.key}`),
    ...(integrity.missingFlexLines ?? []).map(
      (m) =>
        `${m.jobId}/${m.department}: ${m.technicianId}'s recorded line ${m.flexLineItemId} is not in Flex`,
    ),
  ]
}

/**
 * Flex holds exactly one line per rostered technician, with the business role of its tier, recorded
 * as that technician's line; and no line for anyone else.
 */
export function checkFlex(final: FinalState): string[] {
  const violations: string[] = []
  for (const [key, { crewCall, roster, lines }] of final.crewCalls) {
    const rostered = new Map(roster.map((r) => [r.flexResourceId, r]))
    for (const line of lines) {
      if (!rostered.has(line.resourceId))
        violations.push(`${key}: line ${line.id} of ${line.resourceId}, who is off the roster`)
    }
    for (const r of roster) {
      const own = lines.filter((line) => line.resourceId === r.flexResourceId)
      if (own.length !== 1) {
        violations.push(`${key}: ${own.length} lines for ${r.technicianId}`)
        continue
      }
      const [line] = own as [(typeof own)[number]]
      if (r.flexLineItemId !== line.id)
        violations.push(`${key}: ${r.technicianId} records line ${r.flexLineItemId}, Flex has ${line.id}`)
      const role = businessRoleFor(crewCall.department, r.role)
      if (line.businessRoleId !== role)
        violations.push(`${key}: ${r.technicianId}'s line has role ${line.businessRoleId}, not ${role}`)
    }
  }
  return violations
}

/** A sync right after a converged one is a no-op. */
export function checkSecondSyncs(runs: Map<string, SyncRunView>): string[] {
  const violations: string[] = []
  for (const [key, run] of runs) {
    const changed = Object.entries(changesOf(run)).filter(([, ids]) => ids.length > 0)
    if (run.status !== 'succeeded' || changed.length > 0)
      violations.push(
        `${key}: the second final sync was ${run.status} and changed ${JSON.stringify(Object.fromEntries(changed))}`,
      )
  }
  return violations
}

function changesOf({ added, removed, repaired, adopted, rolesSet }: SyncRunView) {
  return { added, removed, repaired, adopted, rolesSet }
}
