import type { FlexCallBudget } from './flex-call-budget.ts'
import type { SyncSchedule } from './sync-schedule.ts'
import type { SyncStatusView } from './sync-status-schemas.ts'

interface SyncStatusServiceDeps {
  schedule: SyncSchedule
  budget: FlexCallBudget
  flexConfigured: boolean
}

/** The read model of the reconcile queue and the Flex call budget, for operators and dashboards. */
export class SyncStatusService {
  constructor(private readonly deps: SyncStatusServiceDeps) {}

  async status(): Promise<SyncStatusView> {
    const { schedule, budget, flexConfigured } = this.deps
    const [stats, usage] = await Promise.all([schedule.stats(), budget.usage()])
    return {
      flexConfigured,
      crewCallsBySyncState: stats.byState,
      due: stats.due,
      oldestPendingChangeSeconds: stats.oldestPendingSeconds,
      flexCalls: { ...budget.limits, ...usage },
    }
  }
}
