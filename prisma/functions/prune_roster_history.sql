-- prune_roster_history: the current definition (edit here, then: npm run db:function -- prune_roster_history).
-- Callers: src/services/crew/roster-history-service.ts (RosterHistoryService.prune, run by
-- src/services/history/history-pruning.ts).
-- Guarantee: deletes up to p_batch of the oldest roster versions no longer kept, as prune_calendar_history;
-- what is kept is always a contiguous run up to the current version.
CREATE OR REPLACE FUNCTION "prune_roster_history"(p_keep_versions integer, p_keep_days integer, p_batch integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH doomed AS (
        SELECT rv.crew_call_id, rv.version
          FROM roster_versions rv JOIN crew_calls cc ON cc.id = rv.crew_call_id
         WHERE rv.version <= cc.version - p_keep_versions
           AND rv.changed_at < now() - p_keep_days * interval '1 day'
         ORDER BY rv.crew_call_id, rv.version
         LIMIT p_batch
    ), removed AS (
        DELETE FROM roster_versions rv USING doomed d
         WHERE rv.crew_call_id = d.crew_call_id AND rv.version = d.version
        RETURNING 1
    )
    SELECT count(*)::integer FROM removed
$$;
