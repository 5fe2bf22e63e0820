-- calendar_set_at: the current definition (edit here, then: npm run db:function -- calendar_set_at).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.setAt); restore_calendar_set.
-- Guarantee: the set as it was at p_version (Calendar objects by calendarId in byte order), from one
-- snapshot: today's rows, except each calendar changed since, which is the row its first change after
-- p_version holds (the versions' `changes`, calendar_change values: the row's fields before the change;
-- created: it did not exist then). NULL calendars when p_version is older than the floor or newer than
-- the current version.
CREATE OR REPLACE FUNCTION "calendar_set_at"(p_user_id text, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, calendars jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.calendar_id) c.*
          FROM calendar_versions cv, unnest(cv.changes) c
         WHERE cv.user_id = p_user_id AND cv.version > p_version
         ORDER BY c.calendar_id, cv.version
    ), at_version AS (
        SELECT mc.calendar_id, calendar_json(mc)::jsonb AS calendar
          FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.calendar_id = mc.calendar_id)
        UNION ALL
        -- The row as it was, in managed_calendars' column order (its id is not kept: no reader needs it).
        SELECT fa.calendar_id, calendar_json(ROW(NULL, p_user_id, fa.calendar_id, fa.summary, fa.description,
                   fa.time_zone, fa.background_color, fa.foreground_color, fa.access_role, fa.is_primary,
                   fa.is_selected, fa.created_at, fa.updated_at)::managed_calendars)::jsonb
          FROM first_after fa WHERE NOT fa.created
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.calendar ORDER BY a.calendar_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;
