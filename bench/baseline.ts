import pg from 'pg'
import { calendarSetParameter } from '../src/services/calendars/calendar-service.ts'
import type { Cleanup } from './lib.ts'
import type { ReplaceCalendars } from './workload.ts'

/**
 * The physical limit a calendar PUT is measured against: the very statement CalendarService.replace
 * sends (the migration's replace_calendar_set, one round trip: lock, If-Match, delete, upsert, bump,
 * render the answer), called straight through a pg pool, with no HTTP, no validation and no Prisma.
 */
const CALL_REPLACE_FUNCTION = "SELECT * FROM replace_calendar_set($1, NULL, $2::jsonb, 'service:bench', NULL)"

/** A client of the function through a pg pool of `poolSize`; a call fails unless it answers. */
export async function startBaseline(
  databaseUrl: string,
  poolSize: number,
  cleanup: Cleanup,
): Promise<ReplaceCalendars> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize })
  cleanup.add(() => pool.end())
  return async (userId, calendars) => {
    const { rows } = await pool.query<{ answer: string | null }>(CALL_REPLACE_FUNCTION, [
      userId,
      calendarSetParameter(calendars),
    ])
    if (!rows[0]?.answer) throw new Error(`baseline replace of ${userId} returned no answer`)
  }
}
