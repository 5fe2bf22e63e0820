-- restore_roster: the current definition (edit here, then: npm run db:function -- restore_roster).
-- Callers: src/services/roster-service.ts (RosterService.restore).
-- Guarantee: makes the roster equal to version p_version's (roster_at) as a new version (a roster change,
-- so synced to Flex like one), through replace_roster under the crew call's lock; version_available is
-- false (nothing written, version: the current one) when p_version cannot be rebuilt. Technicians deleted
-- since are reported as unknown. With p_idempotency, the key is taken first, as replace_roster does.
CREATE OR REPLACE FUNCTION "restore_roster"(p_job_id text, p_department text, p_version integer, p_if_match integer[],
                                 p_debounce_ms integer, p_actor text, p_request_id text,
                                 p_idempotency jsonb DEFAULT NULL)
RETURNS TABLE (version_available boolean, crew_call_exists boolean, version integer, precondition_failed boolean,
               unknown_technicians integer[], created integer, updated integer, deleted integer, answer text,
               key_verdict jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_set jsonb;
    v_current integer;
    v_verdict jsonb;
BEGIN
    IF p_idempotency IS NOT NULL THEN
        v_verdict := take_idempotency_key(p_idempotency);
        IF v_verdict IS NOT NULL THEN
            RETURN QUERY SELECT true, true, 0, false, NULL::integer[], 0, 0, 0, NULL::text, v_verdict;
            RETURN;
        END IF;
    END IF;
    SELECT cc.id INTO v_id FROM crew_calls cc
     WHERE cc.job_id = p_job_id AND cc.department = p_department FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT true, false, 0, false, NULL::integer[], 0, 0, 0, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT r.assignments, r.current_version INTO v_set, v_current FROM roster_at(v_id, p_version) r;
    IF v_set IS NULL THEN
        RETURN QUERY SELECT false, true, v_current, false, NULL::integer[], 0, 0, 0, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT true, r.*
      FROM replace_roster(p_job_id, p_department, p_if_match,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('technician_id', a ->> 'technicianId',
                                                             'role', a ->> 'role')), '[]'::jsonb)
                  FROM jsonb_array_elements(v_set) AS a),
               p_debounce_ms, p_actor, p_request_id, p_version, p_idempotency) r;
END
$$;
