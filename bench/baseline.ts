import pg from 'pg'
import type { CalendarInput } from '../src/schemas/calendars.ts'
import type { Cleanup } from './lib.ts'
import type { ReplaceCalendars } from './workload.ts'

/**
 * CalendarService.replace as one plpgsql function, so a replace is one round trip: lock the user's
 * calendar_sets row, delete the calendars not in the set, upsert the set from arrays (skipping equal
 * rows), bump the version when something changed, and return the final set.
 */
const CREATE_REPLACE_FUNCTION = `
CREATE FUNCTION bench_replace_calendars(
    p_user_id text, p_calendar_ids text[], p_summaries text[], p_descriptions text[], p_time_zones text[],
    p_background_colors text[], p_foreground_colors text[], p_access_roles text[], p_primaries boolean[],
    p_selected boolean[])
  RETURNS TABLE (version integer, change text, calendar_id text, summary text, description text,
    time_zone text, background_color text, foreground_color text, access_role text, is_primary boolean,
    is_selected boolean, created_at timestamptz, updated_at timestamptz)
  LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  locked_version integer;
  deleted integer;
BEGIN
  INSERT INTO calendar_sets (user_id) VALUES (p_user_id)
  ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
  RETURNING calendar_sets.version INTO locked_version;

  DELETE FROM managed_calendars WHERE user_id = p_user_id AND calendar_id <> ALL (p_calendar_ids);
  GET DIAGNOSTICS deleted = ROW_COUNT;

  RETURN QUERY
  WITH upserted AS (
    INSERT INTO managed_calendars AS mc (user_id, calendar_id, summary, description, time_zone,
           background_color, foreground_color, access_role, is_primary, is_selected)
    SELECT p_user_id, t.* FROM unnest(p_calendar_ids, p_summaries, p_descriptions, p_time_zones,
           p_background_colors, p_foreground_colors, p_access_roles, p_primaries, p_selected)
        AS t(calendar_id, summary, description, time_zone, background_color, foreground_color,
             access_role, is_primary, is_selected)
     ORDER BY t.is_primary
    ON CONFLICT (user_id, calendar_id) DO UPDATE SET
           summary = EXCLUDED.summary, description = EXCLUDED.description,
           time_zone = EXCLUDED.time_zone, background_color = EXCLUDED.background_color,
           foreground_color = EXCLUDED.foreground_color, access_role = EXCLUDED.access_role,
           is_primary = EXCLUDED.is_primary, is_selected = EXCLUDED.is_selected, updated_at = now()
     WHERE (mc.summary, mc.description, mc.time_zone, mc.background_color, mc.foreground_color,
            mc.access_role, mc.is_primary, mc.is_selected)
           IS DISTINCT FROM
           (EXCLUDED.summary, EXCLUDED.description, EXCLUDED.time_zone, EXCLUDED.background_color,
            EXCLUDED.foreground_color, EXCLUDED.access_role, EXCLUDED.is_primary, EXCLUDED.is_selected)
    RETURNING mc.*, CASE WHEN mc.xmax = 0 THEN 'created' ELSE 'updated' END AS change
  ), bumped AS (
    UPDATE calendar_sets SET version = version + 1, updated_at = now()
     WHERE user_id = p_user_id AND (deleted > 0 OR EXISTS (SELECT 1 FROM upserted))
    RETURNING version
  ), final_set AS (
    SELECT u.change, u.calendar_id, u.summary, u.description, u.time_zone, u.background_color,
           u.foreground_color, u.access_role, u.is_primary, u.is_selected, u.created_at, u.updated_at
      FROM upserted u
    UNION ALL
    SELECT 'unchanged', mc.calendar_id, mc.summary, mc.description, mc.time_zone, mc.background_color,
           mc.foreground_color, mc.access_role, mc.is_primary, mc.is_selected, mc.created_at, mc.updated_at
      FROM managed_calendars mc
     WHERE mc.user_id = p_user_id
       AND NOT EXISTS (SELECT 1 FROM upserted u WHERE u.calendar_id = mc.calendar_id)
  )
  SELECT COALESCE((SELECT b.version FROM bumped b), locked_version), f.*
    FROM final_set f
   ORDER BY f.calendar_id COLLATE "C";
END
$$`

const CALL_REPLACE_FUNCTION = `SELECT * FROM bench_replace_calendars($1, $2::text[], $3::text[], $4::text[],
  $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::boolean[])`

/**
 * Installs the function in the benchmark's database and returns a client calling it through a pg pool of
 * `poolSize`; a call fails unless it returns the whole set.
 */
export async function startBaseline(
  databaseUrl: string,
  poolSize: number,
  cleanup: Cleanup,
): Promise<ReplaceCalendars> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize })
  cleanup.add(() => pool.end())
  await pool.query(CREATE_REPLACE_FUNCTION)
  return async (userId, calendars) => {
    const { rowCount } = await pool.query(CALL_REPLACE_FUNCTION, [userId, ...toColumns(calendars)])
    if (rowCount !== calendars.length) {
      throw new Error(`baseline replace of ${userId} returned ${rowCount} of ${calendars.length} calendars`)
    }
  }
}

/** The set as one array per column, in the function's parameter order. */
function toColumns(calendars: CalendarInput[]): unknown[][] {
  return [
    calendars.map((c) => c.calendarId),
    calendars.map((c) => c.summary),
    calendars.map((c) => c.description ?? null),
    calendars.map((c) => c.timeZone ?? null),
    calendars.map((c) => c.backgroundColor ?? null),
    calendars.map((c) => c.foregroundColor ?? null),
    calendars.map((c) => c.accessRole ?? null),
    calendars.map((c) => c.primary ?? false),
    calendars.map((c) => c.selected ?? false),
  ]
}
