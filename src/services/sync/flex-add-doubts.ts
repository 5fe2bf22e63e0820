import type { PrismaClient } from '../../db/prisma.ts'
import { FlexError } from '../../flex/flex-errors.ts'

/**
 * Adds whose outcome is unknown. A timed-out add, or one whose connection dropped, may have been
 * received by Flex and still be waiting there: listing the element right after can show no line for a
 * line that appears a moment later. Adding again then makes a duplicate. So an add that may have landed
 * and is not in the listing is recorded here, and no sync adds that resource on that element again until
 * `doubtMs` has passed (FLEX_ADD_DOUBT_MS): by then the first add has landed (and is adopted) or never
 * will. A doubt only holds adds back: a line found meanwhile is adopted as usual. Rows just expire.
 */
export class FlexAddDoubts {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly doubtMs: number,
  ) {}

  /** The crew call's resources whose earlier add may still land, with until when. */
  async active(crewCallId: string): Promise<Map<string, Date>> {
    const rows = await this.prisma.flexAddDoubt.findMany({
      where: { crewCallId, until: { gt: new Date() } },
      select: { flexResourceId: true, until: true },
    })
    return new Map(rows.map((row) => [row.flexResourceId, row.until]))
  }

  /** Records that an add of `flexResourceId` may still land; returns until when no add may follow it. */
  async record(crewCallId: string, flexResourceId: string): Promise<Date> {
    const until = new Date(Date.now() + this.doubtMs)
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
