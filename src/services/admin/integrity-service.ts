import type { PrismaClient } from '../../db/prisma.ts'
import { FlexNotConfiguredError, ServiceUnavailableError, UpstreamError } from '../../errors/domain-errors.ts'
import type { FlexPort } from '../../flex/flex-client.ts'
import { FlexError } from '../../flex/flex-errors.ts'
import type { Department } from '../../schemas/departments.ts'
import { type FlexCallBudget, secondsUntil } from '../sync/flex-call-budget.ts'
import type { SyncLostRuns } from '../sync/sync-lost-runs.ts'
import type { SyncSchedule } from '../sync/sync-schedule.ts'
import { type IntegrityReport, MAX_REPORT_ITEMS } from './integrity-schemas.ts'

interface IntegrityServiceDeps {
  prisma: PrismaClient
  /** Undefined when Flex is not configured: checkFlex then answers 501 flex-not-configured. */
  flex: FlexPort | undefined
  /** checkFlex lists every element with recorded lines: those calls come out of the shared budget. */
  budget: FlexCallBudget
  schedule: SyncSchedule
  lostRuns: SyncLostRuns
  /** Webhook endpoints disabled and deliveries failed. */
  webhookProblems: () => Promise<{ endpointsDisabled: number; deliveriesFailed: number }>
}

/**
 * A list of crew calls (their department a column the database holds to the three departments) cut to
 * the report's bound: the first MAX_REPORT_ITEMS, in the list's own order.
 */
function firstOfDepartments<T extends { department: string }>(
  items: T[],
): (T & { department: Department })[] {
  return items.slice(0, MAX_REPORT_ITEMS) as (T & { department: Department })[]
}

/**
 * What an operator checks when in doubt: duplicates for every natural key (always zero unless a
 * constraint was dropped), crew lines recorded here but gone from Flex (when asked: it reads Flex),
 * crew calls whose last sync failed, those quarantined because their sync ended the process, and the
 * last 24 hours of syncs.
 */
export class IntegrityService {
  constructor(private readonly deps: IntegrityServiceDeps) {}

  async report({ checkFlex }: { checkFlex: boolean }): Promise<IntegrityReport> {
    const [duplicates, failedLastSync, quarantined, schedule, syncs, missingFlexLines, webhooks] =
      await Promise.all([
        this.duplicates(),
        this.crewCallsWhoseLastSyncFailed(),
        this.deps.lostRuns.quarantined(),
        this.deps.schedule.stats(),
        this.syncStats(),
        checkFlex ? this.missingFlexLines() : Promise.resolve(null),
        this.deps.webhookProblems(),
      ])
    return {
      duplicates,
      missingFlexLines: missingFlexLines && firstOfDepartments(missingFlexLines),
      crewCallsWhoseLastSyncFailed: firstOfDepartments(failedLastSync),
      crewCallsQuarantined: firstOfDepartments(quarantined).map((crewCall) => ({
        ...crewCall,
        quarantinedAt: crewCall.quarantinedAt.toISOString(),
        reason: this.deps.lostRuns.reason,
      })),
      crewCallsBySyncState: schedule.byState,
      oldestPendingChangeSeconds: Math.round(schedule.oldestPendingSeconds),
      syncsLast24h: syncs,
      webhooks,
    }
  }

  /**
   * For every natural key the service guarantees unique (G3), how many values occur more than once:
   * 0 unless a constraint was dropped, since the database enforces each one too.
   */
  private duplicates() {
    const { prisma } = this.deps
    // Groups of the key's columns with more than one row (Prisma's `having` counts one grouped column).
    const moreThanOnce = { _count: { gt: 1 } } as const
    const count = (groups: unknown[]) => groups.length
    const keys: { key: string; groups: Promise<number> }[] = [
      {
        key: 'managed_calendars (user_id, calendar_id)',
        groups: prisma.managedCalendar
          .groupBy({
            by: ['userId', 'calendarId'],
            having: { userId: moreThanOnce },
          })
          .then(count),
      },
      {
        key: 'technicians (flex_resource_id)',
        groups: prisma.technician
          .groupBy({
            by: ['flexResourceId'],
            having: { flexResourceId: moreThanOnce },
          })
          .then(count),
      },
      {
        key: 'crew_calls (job_id, department)',
        groups: prisma.crewCall
          .groupBy({ by: ['jobId', 'department'], having: { jobId: moreThanOnce } })
          .then(count),
      },
      {
        key: 'crew_calls (flex_element_id)',
        groups: prisma.crewCall
          .groupBy({ by: ['flexElementId'], having: { flexElementId: moreThanOnce } })
          .then(count),
      },
      {
        key: 'crew_assignments (crew_call_id, technician_id)',
        groups: prisma.crewAssignment
          .groupBy({
            by: ['crewCallId', 'technicianId'],
            having: { crewCallId: moreThanOnce },
          })
          .then(count),
      },
      {
        key: 'crew_assignments (flex_line_item_id)',
        groups: prisma.crewAssignment
          .groupBy({
            by: ['flexLineItemId'],
            where: { flexLineItemId: { not: null } },
            having: { flexLineItemId: moreThanOnce },
          })
          .then(count),
      },
    ]
    return Promise.all(keys.map(async ({ key, groups }) => ({ key, groups: await groups })))
  }

  private async missingFlexLines() {
    const { flex } = this.deps
    if (!flex) throw new FlexNotConfiguredError('checkFlex cannot read it (ask without checkFlex)')
    const recorded = (
      await this.deps.prisma.crewAssignment.findMany({
        where: { flexLineItemId: { not: null } },
        select: {
          technicianId: true,
          flexLineItemId: true,
          crewCall: { select: { jobId: true, department: true, flexElementId: true } },
        },
        orderBy: [
          { crewCall: { jobId: 'asc' } },
          { crewCall: { department: 'asc' } },
          { technicianId: 'asc' },
        ],
      })
    ).map(({ crewCall, technicianId, flexLineItemId }) => ({
      ...crewCall,
      technicianId,
      flexLineItemId: flexLineItemId as string,
    }))
    const elements = [...new Set(recorded.map((line) => line.flexElementId))]
    const present = new Set<string>()
    if (elements.length > 0) {
      const reservation = await this.deps.budget.reserve(elements.length)
      if (!reservation.granted) {
        throw new ServiceUnavailableError(
          `checkFlex needs ${elements.length} Flex calls and the Flex call budget cannot cover them now`,
          { retryAfterSeconds: secondsUntil(reservation.retryAt) },
        )
      }
      let calls = 0
      const counted = flex.observed(() => calls++)
      try {
        for (const element of elements) {
          // Presence by line id needs no classification: any row with the recorded id is there.
          const rows = await counted.listRows(element).catch((error: unknown) => {
            throw error instanceof FlexError
              ? new UpstreamError(`reading Flex failed: ${error.message}`, { cause: error })
              : error
          })
          for (const row of rows) if (row.lineItemId !== null) present.add(row.lineItemId)
        }
      } finally {
        await this.deps.budget.settle(reservation.id, elements.length, calls).catch(() => {})
      }
    }
    return recorded
      .filter((line) => !present.has(line.flexLineItemId))
      .map(({ jobId, department, technicianId, flexLineItemId }) => ({
        jobId,
        department,
        technicianId,
        flexLineItemId,
      }))
  }

  private async crewCallsWhoseLastSyncFailed() {
    const rows = await this.deps.prisma.$queryRaw<
      { job_id: string; department: string; run_id: string; finished_at: Date | null }[]
    >`
      SELECT cc.job_id, cc.department, last.id AS run_id, last.finished_at
        FROM crew_calls cc
        JOIN LATERAL (SELECT id, status, finished_at FROM sync_runs r WHERE r.crew_call_id = cc.id
                       ORDER BY started_at DESC, id DESC LIMIT 1) last ON true
       WHERE last.status = 'failed' ORDER BY cc.job_id, cc.department`
    return rows.map((row) => ({
      jobId: row.job_id,
      department: row.department,
      runId: row.run_id,
      finishedAt: row.finished_at?.toISOString() ?? null,
    }))
  }

  private async syncStats() {
    const { syncRun } = this.deps.prisma
    const where = { startedAt: { gt: new Date(Date.now() - 86_400_000) }, status: { not: 'running' } }
    const [all, failed] = await Promise.all([
      syncRun.aggregate({ where, _count: true, _avg: { durationMs: true } }),
      syncRun.count({ where: { ...where, status: 'failed' } }),
    ])
    const runs = all._count
    const mean = all._avg.durationMs
    return {
      runs,
      failed,
      failureRate: runs === 0 ? 0 : failed / runs,
      meanDurationMs: mean === null ? null : Math.round(mean),
    }
  }
}
