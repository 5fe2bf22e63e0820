-- A roster change as the database decides it: the version bump and the reconcile it schedules in one
-- UPDATE (mark_roster_changed), and the roster replace as one function call (replace_roster), one round
-- trip instead of an interactive transaction of six statements.

-- The next roster version of a crew call whose row the caller has locked, and a reconcile due within
-- p_debounce_ms (a burst of changes shares it); the change is pending from now unless one already was,
-- and a crew call whose automatic syncs gave up is re-armed. src/services/sync/sync-schedule.ts
-- (scheduleAfterChange) writes the same schedule when a crew call is created or moved.
CREATE OR REPLACE FUNCTION "mark_roster_changed"(p_crew_call_id uuid, p_debounce_ms integer)
RETURNS integer
LANGUAGE sql AS $$
    UPDATE crew_calls
       SET version = version + 1, updated_at = now(),
           sync_due_at = least(sync_due_at, now() + p_debounce_ms * interval '1 millisecond'),
           sync_pending_since = coalesce(sync_pending_since, now()), sync_attempts = 0, sync_failed_at = NULL
     WHERE id = p_crew_call_id
    RETURNING version
$$;

-- Makes a crew call's roster exactly p_assignments ([{technician_id, role}], ids unique): locks the
-- crew call (roster writes of one crew call queue here), checks If-Match, refuses technicians that do
-- not exist (their positions in p_assignments, 0-based, and nothing written), deletes who left, upserts
-- the rest (equal rows untouched), and marks the roster changed only when something did. Returns the
-- final roster; crew_call_exists is false when the crew call does not exist.
CREATE OR REPLACE FUNCTION "replace_roster"(p_job_id text, p_department text, p_if_match integer[],
                                            p_assignments jsonb, p_debounce_ms integer)
RETURNS TABLE (crew_call_exists boolean, version integer, precondition_failed boolean, unknown_technicians integer[],
               created integer, updated integer, deleted integer, assignments jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_version integer;
    v_unknown integer[];
    v_created integer;
    v_updated integer;
    v_deleted integer;
BEGIN
    SELECT cc.id, cc.version INTO v_id, v_version
      FROM crew_calls cc WHERE cc.job_id = p_job_id AND cc.department = p_department FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 0, false, NULL::integer[], 0, 0, 0, NULL::jsonb;
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND NOT (v_version = ANY (p_if_match)) THEN
        RETURN QUERY SELECT true, v_version, true, NULL::integer[], 0, 0, 0, NULL::jsonb;
        RETURN;
    END IF;

    SELECT array_agg((e.ordinality - 1)::integer ORDER BY e.ordinality) INTO v_unknown
      FROM jsonb_array_elements(p_assignments) WITH ORDINALITY AS e(item, ordinality)
     WHERE NOT EXISTS (SELECT 1 FROM technicians t WHERE t.id = e.item ->> 'technician_id');
    IF v_unknown IS NOT NULL THEN
        RETURN QUERY SELECT true, v_version, false, v_unknown, 0, 0, 0, NULL::jsonb;
        RETURN;
    END IF;

    DELETE FROM crew_assignments ca
     WHERE ca.crew_call_id = v_id
       AND ca.technician_id NOT IN (SELECT t.technician_id FROM jsonb_to_recordset(p_assignments) AS t(technician_id text));
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    WITH upserted AS (
        INSERT INTO crew_assignments AS ca (crew_call_id, technician_id, role)
        SELECT v_id, t.technician_id, t.role
          FROM jsonb_to_recordset(p_assignments) AS t(technician_id text, role text)
        ON CONFLICT (crew_call_id, technician_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()
         WHERE ca.role IS DISTINCT FROM EXCLUDED.role
        RETURNING ca.xmax = 0 AS inserted
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted)
      INTO v_created, v_updated FROM upserted u;

    IF v_created + v_updated + v_deleted > 0 THEN
        v_version := mark_roster_changed(v_id, p_debounce_ms);
    END IF;

    RETURN QUERY
    SELECT true, v_version, false, NULL::integer[], v_created, v_updated, v_deleted,
           coalesce(jsonb_agg(jsonb_build_object(
               'technicianId', ca.technician_id, 'role', ca.role, 'flexLineItemId', ca.flex_line_item_id,
               'syncedAt', to_char(ca.synced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))), '[]'::jsonb)
      FROM crew_assignments ca WHERE ca.crew_call_id = v_id;
END
$$;
