/**
 * The doctor (npm run flex:doctor): one read-only look at a real Flex element, to see how rostersync
 * reads it before a sync acts on it. It lists the element's rows once, classifies them as a sync
 * would (./crew-lines.ts), and keeps a sanitised copy of Flex's answer for test/fixtures/flex/.
 */

import { candidateResourceIds, classifyRows } from '../../flex/crew-lines.ts'
import { FlexClient, type FlexClientOptions } from '../../flex/flex-client.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import type { FlexRow } from '../../flex/flex-rows.ts'
import type { BudgetUsage } from './flex-call-budget.ts'

/** How the doctor reaches Flex: no retries, since a retry would be a second call. */
type DoctorFlexSettings = Pick<
  FlexClientOptions,
  'baseUrl' | 'authToken' | 'timeoutMs' | 'maxAnswerBytes' | 'fetch'
>

export interface DiagnoseInput {
  flex: DoctorFlexSettings
  elementId: string
  /** Known technicians among these resource ids: resource id -> technician id. Absent: no database. */
  knownTechnicians?: (resourceIds: string[]) => Promise<ReadonlyMap<string, string>>
  /** Configured business role ids (FLEX_BUSINESS_ROLES, every department). */
  roleIds?: Iterable<string>
  budgetUsage?: BudgetUsage
}

/** One HTTP request the doctor sent; status is absent when no answer came. */
interface DoctorCall {
  method: string
  path: string
  status?: number
}

/** How one row was read, in the answer's order. Field values never appear: only ids and names of fields. */
type RowVerdict =
  /** A contact's line: a known technician's (technicianId) or an unknown contact's. */
  | {
      position: string
      verdict: 'line'
      lineItemId: string
      resourceId: string
      technicianId?: string
      role: string
    }
  | { position: string; verdict: 'skipped'; lineItemId: string | null; reason: string }
  | { position: string; verdict: 'unclassifiable'; fields: string[]; reason: string }

interface ReportBase {
  elementId: string
  calls: DoctorCall[]
  technicianLookup: boolean
  budget?: BudgetUsage
}

type DoctorReport =
  | (ReportBase & { outcome: 'read'; rows: RowVerdict[]; rolesUnread: number; capture: unknown })
  | (ReportBase & { outcome: 'token-refused' | 'failed'; error: FlexError })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const REDACTED = '<redacted>'
const KIND_KEYS = new Set(['managedResourceLineItemType', 'type'])
/** Objects whose plain `data` value (Flex's code-keyed columns wrap a field as { fieldType, data }) may be an id. */
const ID_HOLDERS = new Set(['resource', 'contact', 'business-role'])

/** Lists the element once (a GET, one attempt) and classifies its rows; a failed list is reported, not thrown. */
export async function diagnose(input: DiagnoseInput): Promise<DoctorReport> {
  const recorder = recordingFetch(input.flex.fetch ?? globalThis.fetch)
  const client = new FlexClient({ ...input.flex, maxAttempts: 1, fetch: recorder.fetch })
  const base = {
    elementId: input.elementId,
    calls: recorder.calls,
    technicianLookup: input.knownTechnicians !== undefined,
    budget: input.budgetUsage,
  }
  let rows: FlexRow[]
  try {
    rows = await client.listRows(input.elementId)
  } catch (error) {
    if (!(error instanceof FlexError)) throw error
    return { ...base, outcome: error.kind === 'unauthorized' ? 'token-refused' : 'failed', error }
  }
  const technicians =
    (await input.knownTechnicians?.(candidateResourceIds(rows))) ?? new Map<string, string>()
  const roleIds = new Set(input.roleIds ?? [])
  const classified = classifyRows(rows, {
    isKnownResource: (id) => technicians.has(id),
    isKnownRole: (id) => roleIds.has(id),
  })
  const verdicts: RowVerdict[] = [
    ...classified.lines.map(({ position, lineItemId, resourceId, businessRoleId }): RowVerdict => {
      const [technicianId, role] = [technicians.get(resourceId), roleText(businessRoleId, roleIds)]
      return { position, verdict: 'line', lineItemId, resourceId, technicianId, role }
    }),
    ...classified.skipped.map((row): RowVerdict => ({ ...row, verdict: 'skipped' })),
    ...classified.unclassifiable.map((row): RowVerdict => ({ ...row, verdict: 'unclassifiable' })),
  ]
  const order = new Map(rows.map((row, index) => [row.position, index]))
  verdicts.sort((a, b) => (order.get(a.position) ?? 0) - (order.get(b.position) ?? 0))
  const body = await recorder.lastBody()
  return {
    ...base,
    outcome: 'read',
    rows: verdicts,
    rolesUnread: classified.rolesUnread,
    capture: sanitizeCapture(JSON.parse(body ?? 'null')),
  }
}

/** 0 when every row was classified; 1 when the list failed or any row is unclassifiable. */
export function exitCodeOf(report: DoctorReport): 0 | 1 {
  return report.outcome === 'read' && !report.rows.some((row) => row.verdict === 'unclassifiable') ? 0 : 1
}

/** The report as text for an operator: one line per row, then totals and the budget left. */
export function formatReport(report: DoctorReport): string {
  const calls = report.calls.map((call) => `${call.method} ${call.path} -> ${call.status ?? 'no answer'}`)
  const lines = [`Flex element ${report.elementId}: ${report.calls.length} call(s): ${calls.join('; ')}`]
  if (report.outcome === 'token-refused') lines.push(`token refused: ${report.error.message}`)
  if (report.outcome === 'failed')
    lines.push(`Flex list failed (${report.error.kind}): ${report.error.message}`)
  if (report.outcome === 'read') {
    lines.push(
      ...report.rows.map((row) => `  row ${row.position}: ${describeVerdict(row)}`),
      totalsOf(report),
    )
  }
  lines.push(budgetText(report.budget))
  return lines.join('\n')
}

/**
 * Flex's answer with its personal data gone and its structure kept, to replay as a recorded answer:
 * ids are kept (keys `id`, `…Id`, `…Ids`; the `data` of resource, contact and business-role when
 * id-shaped), so are UUID-shaped strings anywhere, kind fields, empty strings, numbers, booleans and
 * null. Every other string (names, notes, free text) becomes "<redacted>".
 */
export function sanitizeCapture(body: unknown): unknown {
  return sanitizeValue(body, '', '')
}

/** `key` is the field holding the value ('' in a list of rows), `parentKey` the field holding its object. */
function sanitizeValue(value: unknown, key: string, parentKey: string): unknown {
  if (Array.isArray(value)) {
    return value.map((item) =>
      isIdKey(key) && typeof item === 'string' ? item : sanitizeValue(item, '', key),
    )
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([field, inner]) => [field, sanitizeValue(inner, field, key)]),
    )
  }
  if (typeof value !== 'string' || value === '' || UUID.test(value)) return value
  if (isIdKey(key) || KIND_KEYS.has(key)) return value
  const idHolder = ID_HOLDERS.has(key) || (key === 'data' && ID_HOLDERS.has(parentKey))
  return idHolder && /^\d+$/.test(value) ? value : REDACTED
}

function budgetText(budget: BudgetUsage | undefined): string {
  if (!budget) return 'Flex call budget left: unknown'
  const hour = `${budget.leftThisHour} this hour (${budget.usedLastHour} used)`
  return `Flex call budget left: ${hour}, ${budget.leftToday} today (${budget.usedLastDay} used), before this call`
}

function isIdKey(key: string): boolean {
  return key === 'id' || key.endsWith('Id') || key.endsWith('Ids')
}

function roleText(roleId: string | null | undefined, configured: Set<string>): string {
  if (roleId === undefined) return 'role not readable'
  if (roleId === null) return 'no role'
  return configured.size > 0 && !configured.has(roleId)
    ? `role ${roleId} (not a configured role)`
    : `role ${roleId}`
}

function describeVerdict(row: RowVerdict): string {
  switch (row.verdict) {
    case 'line':
      return row.technicianId === undefined
        ? `contact line ${row.lineItemId} of an unknown contact: resource ${row.resourceId}, ${row.role}`
        : `technician line ${row.lineItemId}: resource ${row.resourceId} = technician ${row.technicianId}, ${row.role}`
    case 'skipped':
      return `skipped (${row.reason})${row.lineItemId === null ? '' : `, line ${row.lineItemId}`}`
    case 'unclassifiable':
      return `UNCLASSIFIABLE (fields: ${row.fields.join(', ') || 'none'}): ${row.reason}`
  }
}

function totalsOf(report: Extract<DoctorReport, { outcome: 'read' }>): string {
  const count = (matches: (row: RowVerdict) => boolean) => report.rows.filter(matches).length
  const lines = count((row) => row.verdict === 'line')
  const technicians = count((row) => row.verdict === 'line' && row.technicianId !== undefined)
  const unclassifiable = count((row) => row.verdict === 'unclassifiable')
  const lineTotals = report.technicianLookup
    ? `${technicians} technician line(s), ${lines - technicians} unknown contact line(s)`
    : `${lines} contact line(s) (technicians not looked up)`
  const totals = `totals: ${report.rows.length} row(s): ${lineTotals}, ${count((row) => row.verdict === 'skipped')} skipped, ${unclassifiable} unclassifiable; ${report.rolesUnread} technician role(s) not readable`
  return unclassifiable > 0 ? `${totals}\na sync of this element would stop before acting on it` : totals
}

/** A fetch that records every request, and keeps the body text of the last answer without consuming it. */
function recordingFetch(inner: typeof fetch) {
  const calls: DoctorCall[] = []
  let body: Promise<string | null> = Promise.resolve(null)
  const recording: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const call: DoctorCall = { method: init?.method ?? 'GET', path: new URL(url).pathname }
    calls.push(call)
    const response = await inner(input, init)
    call.status = response.status
    body = response
      .clone()
      .text()
      .catch(() => null)
    return response
  }
  return { fetch: recording, calls, lastBody: () => body }
}
