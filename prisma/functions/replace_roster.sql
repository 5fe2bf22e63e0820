-- replace_roster: the current definition (edit here, then: npm run db:function -- replace_roster).
-- Callers: src/services/roster-service.ts (RosterService.replace); restore_roster.
-- Guarantee (G1, G2, G3): makes a crew call's roster exactly p_assignments ([{technician_id, role}], ids
-- unique) in one statement's transaction: locks the crew call (roster writes of one crew call queue here),
-- checks If-Match, refuses technicians that do not exist (their 0-based positions, nothing written),
-- deletes who left, upserts the rest with ON CONFLICT (equal rows untouched), and only when something
-- changed calls mark_roster_changed (next version, history, reconcile scheduled). crew_call_exists is
-- false when the crew call does not exist. answer is PUT …/assignments's answer as compact JSON (assignments in
-- byte order of their ids). With p_idempotency, the key is taken first and the answer stored as its response
-- in the same statement, as replace_calendar_set does.
CREATE OR REPLACE FUNCTION "replace_roster"(p_job_id text, p_department text, p_if_match integer[], p_assignments jsonb,
                                 p_debounce_ms integer, p_actor text, p_request_id text,
                                 p_restored_from integer DEFAULT NULL, p_idempotency jsonb DEFAULT NULL)
RETURNS TABLE (crew_call_exists boolean, version integer, precondition_failed boolean, unknown_technicians integer[],
               created integer, updated integer, deleted integer, answer text, key_verdict jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_version integer;
    v_unknown integer[];
    v_created integer;
    v_updated integer;
    v_deleted integer;
    v_gone jsonb;
    v_upserted jsonb;
    v_count integer;
    v_items text;
    v_answer text;
    v_verdict jsonb;
BEGIN
    IF p_idempotency IS NOT NULL THEN
        v_verdict := take_idempotency_key(p_idempotency);
        IF v_verdict IS NOT NULL THEN
            RETURN QUERY SELECT true, 0, false, NULL::integer[], 0, 0, 0, NULL::text, v_verdict;
            RETURN;
        END IF;
    END IF;
    SELECT cc.id, cc.version INTO v_id, v_version
      FROM crew_calls cc WHERE cc.job_id = p_job_id AND cc.department = p_department FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 0, false, NULL::integer[], 0, 0, 0, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND NOT (v_version = ANY (p_if_match)) THEN
        RETURN QUERY SELECT true, v_version, true, NULL::integer[], 0, 0, 0, NULL::text, NULL::jsonb;
        RETURN;
    END IF;

    SELECT array_agg((e.ordinality - 1)::integer ORDER BY e.ordinality) INTO v_unknown
      FROM jsonb_array_elements(p_assignments) WITH ORDINALITY AS e(item, ordinality)
     WHERE NOT EXISTS (SELECT 1 FROM technicians t WHERE t.id = e.item ->> 'technician_id');
    IF v_unknown IS NOT NULL THEN
        RETURN QUERY SELECT true, v_version, false, v_unknown, 0, 0, 0, NULL::text, NULL::jsonb;
        RETURN;
    END IF;

    WITH gone AS (
        DELETE FROM crew_assignments ca
         WHERE ca.crew_call_id = v_id
           AND ca.technician_id NOT IN (SELECT t.technician_id FROM jsonb_to_recordset(p_assignments) AS t(technician_id text))
        RETURNING ca.technician_id, ca.role
    )
    SELECT count(*), coalesce(jsonb_agg(jsonb_build_object(
               'technician_id', g.technician_id, 'change', 'deleted', 'before', jsonb_build_object('role', g.role))),
               '[]'::jsonb)
      INTO v_deleted, v_gone FROM gone g;

    -- One snapshot: `previous` sees the assignments as they were before the upsert.
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(p_assignments) AS t(technician_id text, role text)
    ), previous AS (
        SELECT ca.technician_id, ca.role FROM crew_assignments ca JOIN input i ON i.technician_id = ca.technician_id
         WHERE ca.crew_call_id = v_id
    ), upserted AS (
        INSERT INTO crew_assignments AS ca (crew_call_id, technician_id, role)
        SELECT v_id, i.technician_id, i.role FROM input i
        ON CONFLICT (crew_call_id, technician_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()
         WHERE ca.role IS DISTINCT FROM EXCLUDED.role
        RETURNING ca.technician_id, ca.role, ca.xmax = 0 AS inserted
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted),
           coalesce(jsonb_agg(jsonb_build_object(
               'technician_id', u.technician_id, 'change', CASE WHEN u.inserted THEN 'created' ELSE 'updated' END,
               'before', CASE WHEN NOT u.inserted THEN jsonb_build_object('role', p.role) END)), '[]'::jsonb)
      INTO v_created, v_updated, v_upserted FROM upserted u LEFT JOIN previous p ON p.technician_id = u.technician_id;

    IF v_created + v_updated + v_deleted > 0 THEN
        v_version := mark_roster_changed(v_id, p_debounce_ms, p_actor, p_request_id, v_gone || v_upserted,
                                         p_restored_from);
    END IF;

    SELECT count(*), coalesce(string_agg(
               '{"technicianId":' || to_json(ca.technician_id)::text
               || ',"role":' || coalesce(to_json(ca.role)::text, 'null')
               || ',"flexLineItemId":' || coalesce(to_json(ca.flex_line_item_id)::text, 'null')
               || ',"syncedAt":' || coalesce('"' || to_char(ca.synced_at AT TIME ZONE 'UTC',
                                                            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')
               || '}', ',' ORDER BY ca.technician_id COLLATE "C"), '')
      INTO v_count, v_items
      FROM crew_assignments ca WHERE ca.crew_call_id = v_id;
    v_answer := '{"version":' || v_version || ',"assignments":[' || v_items || '],"changes":{"created":'
             || v_created || ',"updated":' || v_updated || ',"deleted":' || v_deleted
             || ',"unchanged":' || (v_count - v_created - v_updated) || '}}';

    IF p_idempotency IS NOT NULL THEN
        PERFORM store_idempotent_answer(p_idempotency, 200,
                    jsonb_build_object('content-type', 'application/json; charset=utf-8',
                                       'etag', '"' || v_version || '"'), v_answer);
    END IF;

    RETURN QUERY SELECT true, v_version, false, NULL::integer[], v_created, v_updated, v_deleted, v_answer,
                        NULL::jsonb;
END
$$;
