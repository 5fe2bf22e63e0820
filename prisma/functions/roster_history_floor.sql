-- roster_history_floor: the current definition (edit here, then: npm run db:function -- roster_history_floor).
-- Callers: roster_at and roster_changes_since (prisma/functions/).
-- Guarantee: the oldest roster version that can still be rebuilt (as calendar_history_floor).
CREATE OR REPLACE FUNCTION "roster_history_floor"(p_crew_call_id uuid)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(rv.version) - 1 FROM roster_versions rv WHERE rv.crew_call_id = p_crew_call_id),
                    (SELECT cc.version FROM crew_calls cc WHERE cc.id = p_crew_call_id), 0)
$$;
