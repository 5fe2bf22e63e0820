import { Webhook } from 'standardwebhooks'
import type { IntegrityReport } from '../../src/services/admin/integrity-schemas.ts'
import type { SyncRunView } from '../../src/services/sync/sync-schemas.ts'
import type { FakeFlex } from '../helpers/fake-flex/fake-flex.ts'
import { isProblemContentType } from '../helpers/problem.ts'
import type { ReceivedWebhook } from '../helpers/webhook-receiver.ts'
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
  /** What the chaos webhook receiver got; unchecked when absent. */
  webhooks?: WebhookCheckInput
}

export interface WebhookCheckInput {
  /** The endpoint's secret (whsec_...). */
  secret: string
  /** Every request the receiver got, the ones it answered with a fault included. */
  received: readonly ReceivedWebhook[]
  /** `<register> <version>` of every committed version, with the data its event must carry when known (readCommittedVersions). */
  committed: Map<string, Record<string, unknown> | undefined>
  /** Deliveries still pending after the settle period, or failed for good. */
  pending?: number
  failed?: number
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
    ...(input.webhooks ? checkWebhooks(input.webhooks) : []),
  ]
}

/**
 * Webhooks, judged from what the receiver got: every request carries a valid signature of the
 * endpoint's secret; every committed version of every calendar set and roster was accepted (2xx) at
 * least once, with the data of that version; no event names a version that never committed; an event
 * sent more than once always has the same webhook-id, and a webhook-id always the same body.
 */
export function checkWebhooks({ secret, received, committed, pending, failed }: WebhookCheckInput): string[] {
  const violations: string[] = []
  const webhook = new Webhook(secret)
  const bodyOfId = new Map<string, string>()
  const events = new Map<string, { ids: Set<string>; accepted: boolean }>()
  for (const [index, request] of received.entries()) {
    const where = `webhook request ${index + 1} (webhook-id ${request.id})`
    if (!signedBy(webhook, request)) {
      violations.push(`${where}: its signature ${request.signature} is not the endpoint secret's`)
      continue
    }
    const earlierBody = bodyOfId.get(request.id)
    if (earlierBody !== undefined && earlierBody !== request.body)
      violations.push(`${where}: sent again with another body (${earlierBody} then ${request.body})`)
    bodyOfId.set(request.id, request.body)
    const { type, data } = JSON.parse(request.body) as { type: string; data: Record<string, unknown> }
    const key = eventKey(type, data)
    if (key === undefined) continue
    if (!committed.has(key)) {
      violations.push(`${where}: ${type} for ${key}, a version that never committed`)
      continue
    }
    const expected = committed.get(key)
    if (expected && canonicalJson(expected) !== canonicalJson(data))
      violations.push(
        `${where}: ${type} for ${key} carries ${JSON.stringify(data)}, the committed version ${JSON.stringify(expected)}`,
      )
    const event = events.get(key) ?? { ids: new Set<string>(), accepted: false }
    event.ids.add(request.id)
    event.accepted ||= typeof request.answer === 'number' && request.answer >= 200 && request.answer < 300
    events.set(key, event)
  }
  for (const [key, { ids }] of events) {
    if (ids.size > 1)
      violations.push(`${key}: its event was sent under ${ids.size} webhook-ids (${[...ids].join(', ')})`)
  }
  for (const key of committed.keys()) {
    if (!events.get(key)?.accepted)
      violations.push(`${key}: committed, but its event never reached the receiver`)
  }
  if (pending) violations.push(`${pending} webhook deliveries still pending after the settle period`)
  if (failed) violations.push(`${failed} webhook deliveries failed for good`)
  return violations
}

/**
 * Whether one of the request's signatures is the secret's, by the standardwebhooks implementation:
 * its sign() over the request's own id, timestamp and body. (Its verify() also refuses timestamps over
 * five minutes old, a replay guard that would fail a long run judged afterwards.)
 */
function signedBy(webhook: Webhook, request: ReceivedWebhook): boolean {
  const seconds = Number(request.timestamp)
  if (!Number.isInteger(seconds)) return false
  const expected = webhook.sign(request.id, new Date(seconds * 1000), request.body)
  return request.signature.split(' ').includes(expected)
}

/** The register and version an event is about, as readCommittedVersions names them; undefined for other types. */
function eventKey(type: string, data: Record<string, unknown>): string | undefined {
  if (type === 'calendar-set.changed') return `calendars:${data.userId} ${data.version}`
  if (type === 'roster.changed') return `roster:${data.jobId}/${data.department} ${data.version}`
  return undefined
}

const canonicalJson = (value: Record<string, unknown>) =>
  JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))))

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
