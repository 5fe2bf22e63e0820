-- prune_calendar_history: the current definition (edit here, then: npm run db:function -- prune_calendar_history).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.prune, run by
-- src/services/history/history-pruning.ts).
-- Guarantee: deletes up to p_batch of the oldest versions (their changes are on their rows since
-- 20261206160000) that are both beyond
-- the last p_keep_versions of their user and older than p_keep_days; returns how many. A user's versions
-- go oldest first, so what is kept is always a contiguous run up to the current version.
CREATE OR REPLACE FUNCTION "prune_calendar_history"(p_keep_versions integer, p_keep_days integer, p_batch integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH doomed AS (
        SELECT cv.user_id, cv.version
          FROM calendar_versions cv JOIN calendar_sets cs ON cs.user_id = cv.user_id
         WHERE cv.version <= cs.version - p_keep_versions
           AND cv.changed_at < now() - p_keep_days * interval '1 day'
         ORDER BY cv.user_id, cv.version
         LIMIT p_batch
    ), removed AS (
        DELETE FROM calendar_versions cv USING doomed d
         WHERE cv.user_id = d.user_id AND cv.version = d.version
        RETURNING 1
    )
    SELECT count(*)::integer FROM removed
$$;
