import type { PrismaClient } from '../../db/prisma.ts'
import { spanEvent } from '../../telemetry/tracing.ts'

interface FlexCallLimits {
  /** Calls allowed in any hour (FLEX_CALLS_PER_HOUR). */
  perHour: number
  /** Calls allowed in any day (FLEX_CALLS_PER_DAY). */
  perDay: number
}

export type Reservation =
  | { granted: true; id: bigint }
  /** retryAt is null when the calls exceed a whole window's limit: waiting will not help. */
  | { granted: false; retryAt: Date | null; usedLastHour: number; usedLastDay: number }

export interface BudgetUsage {
  usedLastHour: number
  usedLastDay: number
  leftThisHour: number
  leftToday: number
}

/**
 * Flex's API call limits as one budget for every instance, kept in PostgreSQL over sliding windows
 * (the last hour, the last day). Work that calls Flex reserves what it needs first and settles the
 * reservation with the calls it really made (retries included) when it ends.
 */
export class FlexCallBudget {
  constructor(
    private readonly prisma: PrismaClient,
    readonly limits: FlexCallLimits,
  ) {}

  /** Takes `calls` from the budget, as a new reservation or added to `reservation`, or nothing. */
  async reserve(calls: number, reservation?: bigint): Promise<Reservation> {
    // The check and the take must not interleave across instances: the function serializes them.
    const [row] = await this.prisma.$queryRaw<
      {
        reservation_id: bigint | null
        retry_at: Date | null
        used_last_hour: number
        used_last_day: number
      }[]
    >`SELECT * FROM reserve_flex_calls(${calls}::int, ${this.limits.perHour}::int, ${this.limits.perDay}::int,
                                       ${reservation ?? null}::bigint)`
    if (!row) throw new Error('reserve_flex_calls returned no row')
    // The run's span tells what the budget granted or refused, and when a refused run may try again.
    spanEvent('flex call budget', {
      'rostersync.flex.calls': calls,
      'rostersync.flex.budget.outcome': row.reservation_id !== null ? 'granted' : 'refused',
      'rostersync.flex.budget.used_last_hour': row.used_last_hour,
      'rostersync.flex.budget.retry_at': row.retry_at?.toISOString(),
    })
    if (row.reservation_id !== null) return { granted: true, id: row.reservation_id }
    return {
      granted: false,
      retryAt: row.retry_at,
      usedLastHour: row.used_last_hour,
      usedLastDay: row.used_last_day,
    }
  }

  /**
   * Replaces a reservation's estimate (`callsReserved`) with the calls really made (retries included);
   * nothing to write when the estimate was right, as it is for most runs.
   */
  async settle(reservation: bigint, callsReserved: number, callsMade: number): Promise<void> {
    if (callsMade === callsReserved) return
    await this.prisma.flexCallReservation.update({ where: { id: reservation }, data: { calls: callsMade } })
  }

  /** Why a reservation of `calls` was refused, for the run's errors: what is used, and until when. */
  describeRefusal(refusal: Extract<Reservation, { granted: false }>, calls: number): string {
    const { perHour, perDay } = this.limits
    const used = `${refusal.usedLastHour} of ${perHour} in the last hour, ${refusal.usedLastDay} of ${perDay} in the last day`
    if (refusal.retryAt === null)
      return `this sync needs ${calls} Flex calls, more than FLEX_CALLS_PER_HOUR or FLEX_CALLS_PER_DAY allow at all (${used})`
    return `the Flex call budget cannot cover the ${calls} calls this sync needs (${used} used): deferred until ${refusal.retryAt.toISOString()}`
  }

  async usage(): Promise<BudgetUsage> {
    const now = Date.now()
    const [hour, day] = await Promise.all([
      this.prisma.flexCallReservation.aggregate({
        _sum: { calls: true },
        where: { reservedAt: { gt: new Date(now - 3_600_000) } },
      }),
      this.prisma.flexCallReservation.aggregate({
        _sum: { calls: true },
        where: { reservedAt: { gt: new Date(now - 86_400_000) } },
      }),
    ])
    const usedLastHour = hour._sum.calls ?? 0
    const usedLastDay = day._sum.calls ?? 0
    return {
      usedLastHour,
      usedLastDay,
      leftThisHour: Math.max(0, this.limits.perHour - usedLastHour),
      leftToday: Math.max(0, this.limits.perDay - usedLastDay),
    }
  }
}

/** Whole seconds from now until `date` (at least 1), for Retry-After; undefined without a date. */
export function secondsUntil(date: Date | null): number | undefined {
  return date === null ? undefined : Math.max(1, Math.ceil((date.getTime() - Date.now()) / 1000))
}
