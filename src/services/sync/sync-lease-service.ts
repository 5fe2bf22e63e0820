import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../../db/prisma.ts'
import { ConflictError } from '../../errors/domain-errors.ts'

interface SyncLeaseServiceOptions {
  /** How long a lease lasts without renewal: the longest a crashed holder can block the next sync. */
  leaseMs: number
  /** How long a sync request waits for a running one to finish before answering 409. */
  waitMs: number
  pollMs?: number
  sleep?: (ms: number) => Promise<void>
}

export interface HeldSyncLease {
  readonly token: string
  /** False once the lease could not be renewed: stop calling Flex. */
  readonly held: boolean
  /** Gives the lease back (and stops renewing it); does nothing once it was given back. */
  release(): Promise<void>
  /**
   * The lease was given back by a statement that did more (SyncSchedule.afterRun): stops renewing it,
   * and release() then sends nothing.
   */
  givenBack(): void
}

/**
 * One sync per crew call at a time, across every instance: a lease in the crew call's row, taken with
 * one conditional UPDATE (free, or expired), renewed every third of its length while the sync runs,
 * and released at the end. A crashed holder stops renewing, so its lease expires after `leaseMs` at
 * most. The database clock decides expiry, so instances need not agree on time.
 */
export class SyncLeaseService {
  private readonly pollMs: number
  private readonly sleep: (ms: number) => Promise<void>

  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: SyncLeaseServiceOptions,
  ) {
    this.pollMs = options.pollMs ?? 50
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  /** Waits (bounded) for the crew call's lease; throws a ConflictError (409) when it stays taken. */
  async acquire(crewCallId: string): Promise<HeldSyncLease> {
    const token = randomUUID()
    const deadline = Date.now() + this.options.waitMs
    while (!(await this.tryTake(crewCallId, token))) {
      if (Date.now() >= deadline) {
        throw new ConflictError('a sync of this crew call is already running; retry when it has finished', {
          retryAfterSeconds: Math.max(1, Math.ceil(this.options.leaseMs / 3000)),
        })
      }
      await this.sleep(this.pollMs)
    }
    return this.hold(crewCallId, token)
  }

  private async tryTake(crewCallId: string, token: string): Promise<boolean> {
    // The database's clock decides whether the lease expired, whatever the instances' clocks say.
    const taken = await this.prisma.$executeRaw`
      UPDATE crew_calls
         SET sync_lease_owner = ${token}, sync_lease_until = now() + ${this.options.leaseMs} * interval '1 millisecond'
       WHERE id = ${crewCallId}::uuid AND (sync_lease_until IS NULL OR sync_lease_until < now())`
    return taken === 1
  }

  /**
   * Holds a lease already taken with `token` (by acquire, or by a worker's claim of a due crew call):
   * renews it every third of its length until released.
   */
  hold(crewCallId: string, token: string): HeldSyncLease {
    let held = true
    const renew = async () => {
      // Database clock, as in tryTake.
      const renewed = await this.prisma.$executeRaw`
        UPDATE crew_calls SET sync_lease_until = now() + ${this.options.leaseMs} * interval '1 millisecond'
         WHERE id = ${crewCallId}::uuid AND sync_lease_owner = ${token}`.catch(() => 0)
      if (renewed !== 1) held = false
    }
    const timer = setInterval(() => void renew(), Math.max(10, Math.floor(this.options.leaseMs / 3)))
    timer.unref()
    let givenBack = false
    /** Stops renewing; true the first time only (the lease was still ours to give back). */
    const stop = () => {
      clearInterval(timer)
      held = false
      const first = !givenBack
      givenBack = true
      return first
    }
    return {
      token,
      get held() {
        return held
      },
      givenBack: () => void stop(),
      release: async () => {
        if (!stop()) return
        await this.prisma.crewCall.updateMany({
          where: { id: crewCallId, syncLeaseOwner: token },
          data: { syncLeaseOwner: null, syncLeaseUntil: null },
        })
      },
    }
  }
}
