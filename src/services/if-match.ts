import { PreconditionFailedError } from '../errors/domain-errors.ts'
import type { IfMatch } from '../schemas/common.ts'

/**
 * Optimistic concurrency for versioned sets: a request that names the version it read is refused
 * when the set has moved on. Called under the set's lock, so the check and the write are one step.
 */
/** The versions If-Match allows, as an SQL function's `p_if_match` parameter: null when any version will do. */
export function ifMatchVersions(ifMatch: IfMatch): number[] | null {
  return ifMatch === undefined || ifMatch === '*' ? null : ifMatch
}

export function checkIfMatch(ifMatch: IfMatch, currentVersion: number): void {
  if (ifMatch === undefined || ifMatch === '*' || ifMatch.includes(currentVersion)) return
  throw new PreconditionFailedError(
    `If-Match names version ${ifMatch.map((v) => `"${v}"`).join(', ')} but the set is at "${currentVersion}"`,
    currentVersion,
  )
}
