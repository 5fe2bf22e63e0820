import type { PrismaClient } from '../../db/prisma.ts'
import { FlexError } from '../../flex/flex-errors.ts'

/**
 * Adds whose outcome is unknown. A timed-out add, or one whose connection dropped, may have been
 * received by Flex and still be waiting there: listing the element right after can show no line for a
 * line that appears a moment later. Adding again then makes a duplicate. So an add that may have landed
 * and is not in the listing is recorded here, and no sync adds that resource on that element again until
 * `doubtMs` has passed (FLEX_ADD_DOUBT_MS): by then the first add has landed (and is adopted) or never
 * will. A doubt only holds adds back: a line found meanwhile is adopted as usual. Rows just expire.
 *
 * An add is also recorded before it goes out (`expect`), for as long as it may take and then land
 * (`timeoutMs` + `doubtMs`), and cleared once its outcome is known (`clear`): a run that takes the crew
 * call over while the add is on its way (the process killed, or its lease lost mid-call) must not add
 * the same resource, and the run that sent it may never get to record a doubt.
 */
export class FlexAddDoubts {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly doubtMs: number,
    /** FLEX_TIMEOUT_MS: the longest an add is waited for. */
    private readonly timeoutMs: number,
  ) {}

  /** The crew call's resources whose earlier add may still land, with until when. */
  async active(crewCallId: string): Promise<Map<string, Date>> {
    const rows = await this.prisma.flexAddDoubt.findMany({
      where: { crewCallId, until: { gt: new Date() } },
      select: { flexResourceId: true, until: true },
    })
    return new Map(rows.map((row) => [row.flexResourceId, row.until]))
  }

  /** Records, before an add of `flexResourceId` goes out, that it may land until its answer and `doubtMs` after. */
  async expect(crewCallId: string, flexResourceId: string): Promise<void> {
    await this.hold(crewCallId, flexResourceId, this.timeoutMs + this.doubtMs)
  }

  /** Records that an add of `flexResourceId` may still land; returns until when no add may follow it. */
  record(crewCallId: string, flexResourceId: string): Promise<Date> {
    return this.hold(crewCallId, flexResourceId, this.doubtMs)
  }

  /** The add's outcome is known (its line found, or it was not done): nothing holds the next add back. */
  async clear(crewCallId: string, flexResourceId: string): Promise<void> {
    await this.prisma.flexAddDoubt.deleteMany({ where: { crewCallId, flexResourceId } })
  }

  private async hold(crewCallId: string, flexResourceId: string, forMs: number): Promise<Date> {
    const until = new Date(Date.now() + forMs)
    await this.prisma.flexAddDoubt.upsert({
      where: { crewCallId_flexResourceId: { crewCallId, flexResourceId } },
      create: { crewCallId, flexResourceId, until },
      update: { until },
    })
    return until
  }
}

/**
 * Whether a failed add may have created its line: every failure but an answer saying it was not done
 * (a 4xx, a 503, a 429, a refused token, `success: false`).
 */
export function addMayHaveLanded(error: unknown): boolean {
  if (!(error instanceof FlexError)) return true
  switch (error.kind) {
    case 'rate-limited':
    case 'unauthorized':
    case 'rejected':
      return false
    case 'http':
      return error.status === undefined || (error.status >= 500 && error.status !== 503)
    default:
      return true
  }
}
