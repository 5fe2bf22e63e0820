-- roster_at: the current definition (edit here, then: npm run db:function -- roster_at).
-- Callers: src/services/crew/roster-history-service.ts (RosterHistoryService.at); restore_roster.
-- Guarantee: the roster at p_version ([{technicianId, role}] by technician id, byte order), from one
-- snapshot, as calendar_set_at; NULL assignments when p_version is out of the kept history.
CREATE OR REPLACE FUNCTION "roster_at"(p_crew_call_id uuid, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, assignments jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cc.version FROM crew_calls cc WHERE cc.id = p_crew_call_id), 0) AS current_version,
               roster_history_floor(p_crew_call_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.technician_id) c.technician_id, c.change, c.before_role
          FROM roster_changes c
         WHERE c.crew_call_id = p_crew_call_id AND c.version > p_version
         ORDER BY c.technician_id, c.version
    ), at_version AS (
        SELECT ca.technician_id, jsonb_build_object('technicianId', ca.technician_id, 'role', ca.role) AS assignment
          FROM crew_assignments ca
         WHERE ca.crew_call_id = p_crew_call_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.technician_id = ca.technician_id)
        UNION ALL
        SELECT fa.technician_id, jsonb_build_object('technicianId', fa.technician_id, 'role', fa.before_role)
          FROM first_after fa WHERE fa.change <> 'created'
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.assignment ORDER BY a.technician_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;
