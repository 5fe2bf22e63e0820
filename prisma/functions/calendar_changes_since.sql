-- calendar_changes_since: the current definition (edit here, then: npm run db:function -- calendar_changes_since).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.changesSince).
-- Guarantee: the net changes since p_since, read from one snapshot: calendars that exist now and did not
-- then (created), exist now and changed (updated, as they are now), existed then and are gone (deleted:
-- their ids), from each calendar's first change after p_since in the versions' `changes` (calendar_change
-- values: created, or the row before) and today's row. NULL lists when p_since is older than the history floor or newer than the
-- current version.
CREATE OR REPLACE FUNCTION "calendar_changes_since"(p_user_id text, p_since integer)
RETURNS TABLE (current_version integer, floor_version integer, created jsonb, updated jsonb, deleted jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), touched AS (
        SELECT DISTINCT ON (c.calendar_id) c.calendar_id, c.created
          FROM calendar_versions cv, unnest(cv.changes) c
         WHERE cv.user_id = p_user_id AND cv.version > p_since
         ORDER BY c.calendar_id, cv.version
    ), net AS (
        SELECT t.calendar_id, t.created, calendar_json(mc)::jsonb AS calendar
          FROM touched t
          LEFT JOIN managed_calendars mc ON mc.user_id = p_user_id AND mc.calendar_id = t.calendar_id
    ), valid AS (
        SELECT p_since BETWEEN b.floor_version AND b.current_version AS ok FROM bounds b
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.calendar ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.created AND n.calendar IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.calendar ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE NOT n.created AND n.calendar IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(jsonb_build_object('calendarId', n.calendar_id)
                                                          ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE NOT n.created AND n.calendar IS NULL) END
      FROM bounds b, valid v
$$;
