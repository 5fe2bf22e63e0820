import type { Operation } from './history.ts'

/**
 * The register check: every scope the workload writes (a user's calendar set, a roster, one
 * technician's assignment) is a register, each write puts one whole value there, and each value
 * carries the id of the operation that wrote it, so a value names its writer.
 *
 * The final value of a register must be one that could have been written last:
 * - it is the value of a write that did not fail (ok or unknown), or the initial value: anything else
 *   is a mix of writes, or a write that reported failure and took effect anyway;
 * - no acknowledged (ok) write of another value started after that write ended: otherwise the
 *   acknowledged write came later and was lost. An unknown write may have taken effect at any time
 *   after it started, so it has no end here.
 */
export interface RegisterViolation {
  register: string
  final: string
  problem: string
}

export function checkRegisters(
  operations: Operation[],
  finals: Map<string, string>,
  initialValue: (register: string) => string,
): RegisterViolation[] {
  const writes = new Map<string, Operation[]>()
  for (const op of operations) {
    if (op.register === undefined || op.value === undefined) continue
    const list = writes.get(op.register) ?? []
    list.push(op)
    writes.set(op.register, list)
  }
  const registers = new Set([...writes.keys(), ...finals.keys()])
  const violations: RegisterViolation[] = []
  for (const register of registers) {
    const final = finals.get(register) ?? initialValue(register)
    const problem = judge(writes.get(register) ?? [], final, initialValue(register))
    if (problem) violations.push({ register, final, problem })
  }
  return violations
}

function judge(writes: Operation[], final: string, initial: string): string | undefined {
  const acknowledged = writes.filter((op) => op.outcome === 'ok')
  // The latest time any acknowledged write started: a candidate must not have ended before it.
  const lastAcknowledgedStart = (other: string) =>
    Math.max(-Infinity, ...acknowledged.filter((op) => op.value !== other).map((op) => op.start))
  const candidates = writes.filter((op) => op.value === final && op.outcome !== 'failed')
  if (candidates.length === 0 && final !== initial) {
    const failed = writes.find((op) => op.value === final)
    return failed
      ? `holds the value of operation ${failed.id}, which failed (${failed.status ?? failed.error})`
      : 'holds a value no request sent: a mix of writes, or a phantom'
  }
  const latestStart = lastAcknowledgedStart(final)
  const endOf = (op: Operation) => (op.outcome === 'unknown' || op.end === null ? Infinity : op.end)
  const couldBeLast =
    candidates.some((op) => endOf(op) >= latestStart) || (final === initial && latestStart === -Infinity)
  if (couldBeLast) return undefined
  const lost = acknowledged.find((op) => op.start === latestStart)
  return `acknowledged operation ${lost?.id} (${lost?.kind}) started after every write of the final value ended: it was lost`
}
