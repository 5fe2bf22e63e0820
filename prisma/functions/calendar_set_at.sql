-- calendar_set_at: the current definition (edit here, then: npm run db:function -- calendar_set_at).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.setAt); restore_calendar_set.
-- Guarantee: the set as it was at p_version (Calendar objects by calendarId in byte order), from one
-- snapshot: today's rows, except each calendar changed since, which is the image its first change after
-- p_version holds (the versions' `changes`, keyed by calendar id: the row before the change without its
-- user_id and calendar_id, put back here; JSON null: it was created after). NULL calendars when p_version
-- is older than the floor or newer than the current version.
CREATE OR REPLACE FUNCTION "calendar_set_at"(p_user_id text, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, calendars jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.key) c.key AS calendar_id, c.value AS before_row
          FROM calendar_versions cv, jsonb_each(cv.changes) c
         WHERE cv.user_id = p_user_id AND cv.version > p_version
         ORDER BY c.key, cv.version
    ), at_version AS (
        SELECT mc.calendar_id, calendar_json(mc)::jsonb AS calendar
          FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.calendar_id = mc.calendar_id)
        UNION ALL
        SELECT fa.calendar_id, calendar_json(jsonb_populate_record(NULL::managed_calendars,
                   fa.before_row || jsonb_build_object('user_id', p_user_id, 'calendar_id', fa.calendar_id)))::jsonb
          FROM first_after fa WHERE fa.before_row <> 'null'::jsonb
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.calendar ORDER BY a.calendar_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;
