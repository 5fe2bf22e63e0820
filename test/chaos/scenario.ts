/**
 * The world the chaos suite plays in: users, technicians and crew calls, and how each request writes
 * its register's value in the canonical form the checker compares (see registers.ts). Shared by the
 * load generator (which sends values) and the final-state reader (which reads them back).
 */
import type { Department } from '../../src/schemas/departments.ts'

export const HOT_USERS = ['hot-0', 'hot-1', 'hot-2']
export const COLD_USERS = Array.from({ length: 40 }, (_, i) => `cold-${i}`)
export const CALENDARS_PER_USER = 10
export const TECHNICIANS = Array.from({ length: 24 }, (_, i) => ({
  technicianId: `tech-${i}`,
  flexResourceId: `res-${i}`,
}))
export const TIERS = ['R', 'E', 'T'] as const

export interface ChaosCrewCall {
  jobId: string
  department: Department
  flexElementId: string
  /** 'replace': only whole-roster replaces; 'single': only single upserts and deletes. */
  writes: 'replace' | 'single'
}

/**
 * Whole-roster replaces and single upserts/deletes go to different crew calls: each then has one
 * register model (one set, or one register per technician), and a mix of two replaces is detectable.
 */
export const CREW_CALLS: ChaosCrewCall[] = ['job-0', 'job-1', 'job-2'].flatMap((jobId, j) =>
  (['sound', 'lights'] as const).map((department, d) => ({
    jobId,
    department,
    flexElementId: `el-${jobId}-${department}`,
    writes: (j + d) % 2 === 0 ? ('replace' as const) : ('single' as const),
  })),
)

/** Business role ids for every department and tier, so role changes reach Flex too. */
export const BUSINESS_ROLES = Object.fromEntries(
  (['sound', 'lights'] as const).map((department) => [
    department,
    Object.fromEntries(TIERS.map((tier) => [tier, `br-${department}-${tier}`])),
  ]),
) as Record<'sound' | 'lights', Record<(typeof TIERS)[number], string>>

export const ABSENT = '<absent>'
export const EMPTY_SET = '[]'

export const calendarRegister = (userId: string) => `calendars:${userId}`
export const rosterRegister = (c: Pick<ChaosCrewCall, 'jobId' | 'department'>) =>
  `roster:${c.jobId}/${c.department}`
export const assignmentRegister = (c: Pick<ChaosCrewCall, 'jobId' | 'department'>, technicianId: string) =>
  `assignment:${c.jobId}/${c.department}/${technicianId}`

/** A set of [id, text] pairs, sorted by id: the canonical value of a calendar set or a roster. */
export function canonicalSet(pairs: [string, string | null][]): string {
  return JSON.stringify(pairs.toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** The business role Flex should show for a roster role code (its last letter is the tier). */
export function businessRoleFor(department: Department, role: string | null): string | null {
  if (role === null) return null
  const roles = BUSINESS_ROLES[department as 'sound' | 'lights']
  return roles?.[role.slice(-1) as (typeof TIERS)[number]] ?? null
}
