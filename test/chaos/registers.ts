import type { Operation } from './history.ts'

/**
 * The register check: every scope the workload writes (a user's calendar set, a roster, one
 * technician's assignment) is a register, each write puts one whole value there, and each value
 * carries a tag unique to the request that wrote it, so a value names its writer.
 *
 * Every value seen (by a read, in a replace's answer, or in the final state, a read after everything
 * ended) must be one that could be there at that moment:
 * - it is the value of a write that did not fail (ok or unknown) and had started by the time the read
 *   ended, or the initial value: anything else is a mix of writes, a phantom, or a write that reported
 *   failure and took effect anyway;
 * - no acknowledged (ok) write of another value ran entirely between that write and the read:
 *   otherwise the read is stale, or (for the final state) the acknowledged write was lost. An unknown
 *   write may have taken effect at any time after it started, so nothing counts as after it.
 * A replace's answer must show exactly the set it wrote.
 */
export interface RegisterViolation {
  register: string
  /** What was seen, and by which operation (absent: the final state). */
  seen: string
  by?: number
  problem: string
}

export function checkRegisters(
  operations: Operation[],
  finals: Map<string, string>,
  initialValue: (register: string) => string,
): RegisterViolation[] {
  const writes = groupBy(operations.filter((op) => op.value !== undefined))
  const violations: RegisterViolation[] = []
  for (const op of operations) {
    if (op.register === undefined || op.observed === undefined || op.outcome !== 'ok') continue
    const problem =
      op.value !== undefined
        ? op.observed === op.value
          ? undefined
          : 'a replace answered with another set than it wrote'
        : judge(
            writes.get(op.register) ?? [],
            op.observed,
            initialValue(op.register),
            op.start,
            op.end as number,
          )
    if (problem) violations.push({ register: op.register, seen: op.observed, by: op.id, problem })
  }
  for (const register of new Set([...writes.keys(), ...finals.keys()])) {
    const final = finals.get(register) ?? initialValue(register)
    const problem = judge(writes.get(register) ?? [], final, initialValue(register), Infinity, Infinity)
    if (problem) violations.push({ register, seen: final, problem })
  }
  return violations
}

function judge(
  writes: Operation[],
  seen: string,
  initial: string,
  readStart: number,
  readEnd: number,
): string | undefined {
  const candidates = writes.filter((w) => w.value === seen && w.outcome !== 'failed' && w.start < readEnd)
  if (candidates.length === 0 && seen !== initial) {
    const failed = writes.find((w) => w.value === seen)
    if (!failed) return 'a value no request sent: a mix of writes, or a phantom'
    return failed.outcome === 'failed'
      ? `the value of operation ${failed.id}, which failed (${failed.status ?? failed.error})`
      : `the value of operation ${failed.id}, which had not started yet`
  }
  // Acknowledged writes of another value that ended before the read began.
  const before = writes.filter(
    (w) => w.outcome === 'ok' && w.value !== seen && w.end !== null && w.end < readStart,
  )
  const supersededAfter = (time: number) => before.find((w) => w.start > time)
  const endOf = (w: Operation) => (w.outcome === 'unknown' || w.end === null ? Infinity : w.end)
  const sources = [...candidates.map(endOf), ...(seen === initial ? [-Infinity] : [])]
  if (sources.some((end) => !supersededAfter(end))) return undefined
  const latest = supersededAfter(Math.max(...sources))
  return readStart === Infinity
    ? `acknowledged operation ${latest?.id} (${latest?.kind}) came after every write of the final value: it was lost`
    : `stale: acknowledged operation ${latest?.id} (${latest?.kind}) ran between every write of this value and the read`
}

function groupBy(operations: Operation[]): Map<string, Operation[]> {
  const groups = new Map<string, Operation[]>()
  for (const op of operations) {
    if (op.register === undefined) continue
    groups.set(op.register, [...(groups.get(op.register) ?? []), op])
  }
  return groups
}
