-- roster_changes_since: the current definition (edit here, then: npm run db:function -- roster_changes_since).
-- Callers: src/services/crew/roster-history-service.ts (RosterHistoryService.changesSince).
-- Guarantee: the net changes to a roster since p_since from one snapshot, as calendar_changes_since.
CREATE OR REPLACE FUNCTION "roster_changes_since"(p_crew_call_id uuid, p_since integer)
RETURNS TABLE (current_version integer, floor_version integer, created jsonb, updated jsonb, deleted jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cc.version FROM crew_calls cc WHERE cc.id = p_crew_call_id), 0) AS current_version,
               roster_history_floor(p_crew_call_id) AS floor_version
    ), touched AS (
        SELECT DISTINCT ON (c.technician_id) c.technician_id, c.change AS first_change
          FROM roster_changes c
         WHERE c.crew_call_id = p_crew_call_id AND c.version > p_since
         ORDER BY c.technician_id, c.version
    ), net AS (
        SELECT t.technician_id, t.first_change,
               CASE WHEN ca.technician_id IS NOT NULL THEN
                   jsonb_build_object('technicianId', ca.technician_id, 'role', ca.role) END AS assignment
          FROM touched t
          LEFT JOIN crew_assignments ca ON ca.crew_call_id = p_crew_call_id AND ca.technician_id = t.technician_id
    ), valid AS (
        SELECT p_since BETWEEN b.floor_version AND b.current_version AS ok FROM bounds b
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.assignment ORDER BY n.technician_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.first_change = 'created' AND n.assignment IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.assignment ORDER BY n.technician_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.first_change <> 'created' AND n.assignment IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(jsonb_build_object('technicianId', n.technician_id)
                                                          ORDER BY n.technician_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.first_change <> 'created' AND n.assignment IS NULL) END
      FROM bounds b, valid v
$$;
