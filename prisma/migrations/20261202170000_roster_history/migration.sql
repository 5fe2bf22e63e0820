-- Roster history, as calendar set history (20261202160000): every roster change records the new version
-- (who, which request, when, counts, a restore's source) and each assignment's change ({technicianId,
-- role} before and after), in the change's own transaction. All roster writes go through
-- mark_roster_changed, which now records them; kept and pruned like calendar history.

CREATE TABLE "roster_versions" (
    "crew_call_id"  UUID NOT NULL,
    "version"       INTEGER NOT NULL,
    "changed_at"    TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor"         TEXT NOT NULL,
    "request_id"    TEXT,
    "created"       INTEGER NOT NULL,
    "updated"       INTEGER NOT NULL,
    "deleted"       INTEGER NOT NULL,
    "restored_from" INTEGER,
    CONSTRAINT "roster_versions_pkey" PRIMARY KEY ("crew_call_id", "version"),
    CONSTRAINT "roster_versions_crew_call_id_fkey" FOREIGN KEY ("crew_call_id")
        REFERENCES "crew_calls" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "roster_versions_changed_at_idx" ON "roster_versions" ("changed_at");

CREATE TABLE "roster_changes" (
    "crew_call_id"  UUID NOT NULL,
    "version"       INTEGER NOT NULL,
    "technician_id" TEXT NOT NULL,
    "change"        TEXT NOT NULL,
    "before"        JSONB,
    "after"         JSONB,
    CONSTRAINT "roster_changes_pkey" PRIMARY KEY ("crew_call_id", "version", "technician_id"),
    CONSTRAINT "roster_changes_version_fkey" FOREIGN KEY ("crew_call_id", "version")
        REFERENCES "roster_versions" ("crew_call_id", "version") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "roster_changes_change_check" CHECK ("change" IN ('created', 'updated', 'deleted'))
);
CREATE INDEX "roster_changes_crew_call_id_technician_id_version_idx"
    ON "roster_changes" ("crew_call_id", "technician_id", "version");

DROP FUNCTION "replace_roster"(text, text, integer[], jsonb, integer);
DROP FUNCTION "mark_roster_changed"(uuid, integer);

-- A roster change of a crew call whose row the caller has locked: the next version, a reconcile due
-- within p_debounce_ms (a burst of changes shares it; the change is pending from now unless one already
-- was; a crew call whose automatic syncs gave up is re-armed), and the change in the history:
-- p_changes is [{technician_id, change, before, after}]. NULL when the crew call does not exist.
CREATE FUNCTION "mark_roster_changed"(p_crew_call_id uuid, p_debounce_ms integer, p_actor text,
                                      p_request_id text, p_changes jsonb, p_restored_from integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_version integer;
BEGIN
    UPDATE crew_calls
       SET version = version + 1, updated_at = now(),
           sync_due_at = least(sync_due_at, now() + p_debounce_ms * interval '1 millisecond'),
           sync_pending_since = coalesce(sync_pending_since, now()), sync_attempts = 0, sync_failed_at = NULL
     WHERE id = p_crew_call_id
    RETURNING version INTO v_version;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO roster_versions (crew_call_id, version, actor, request_id, created, updated, deleted, restored_from)
    SELECT p_crew_call_id, v_version, p_actor, p_request_id,
           count(*) FILTER (WHERE c ->> 'change' = 'created'), count(*) FILTER (WHERE c ->> 'change' = 'updated'),
           count(*) FILTER (WHERE c ->> 'change' = 'deleted'), p_restored_from
      FROM jsonb_array_elements(p_changes) AS c;
    INSERT INTO roster_changes (crew_call_id, version, technician_id, change, before, after)
    SELECT p_crew_call_id, v_version, c ->> 'technician_id', c ->> 'change',
           nullif(c -> 'before', 'null'::jsonb), nullif(c -> 'after', 'null'::jsonb)
      FROM jsonb_array_elements(p_changes) AS c;
    RETURN v_version;
END
$$;

-- As before (20261202130000), and: the changes go to the history with p_actor, p_request_id and, for
-- a restore, p_restored_from.
CREATE FUNCTION "replace_roster"(p_job_id text, p_department text, p_if_match integer[], p_assignments jsonb,
                                 p_debounce_ms integer, p_actor text, p_request_id text,
                                 p_restored_from integer DEFAULT NULL)
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
    v_gone jsonb;
    v_upserted jsonb;
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

    WITH gone AS (
        DELETE FROM crew_assignments ca
         WHERE ca.crew_call_id = v_id
           AND ca.technician_id NOT IN (SELECT t.technician_id FROM jsonb_to_recordset(p_assignments) AS t(technician_id text))
        RETURNING ca.technician_id, ca.role
    )
    SELECT count(*), coalesce(jsonb_agg(jsonb_build_object(
               'technician_id', g.technician_id, 'change', 'deleted',
               'before', jsonb_build_object('technicianId', g.technician_id, 'role', g.role))), '[]'::jsonb)
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
               'before', (SELECT jsonb_build_object('technicianId', p.technician_id, 'role', p.role)
                            FROM previous p WHERE p.technician_id = u.technician_id),
               'after', jsonb_build_object('technicianId', u.technician_id, 'role', u.role))), '[]'::jsonb)
      INTO v_created, v_updated, v_upserted FROM upserted u;

    IF v_created + v_updated + v_deleted > 0 THEN
        v_version := mark_roster_changed(v_id, p_debounce_ms, p_actor, p_request_id, v_gone || v_upserted,
                                         p_restored_from);
    END IF;

    RETURN QUERY
    SELECT true, v_version, false, NULL::integer[], v_created, v_updated, v_deleted,
           coalesce(jsonb_agg(jsonb_build_object(
               'technicianId', ca.technician_id, 'role', ca.role, 'flexLineItemId', ca.flex_line_item_id,
               'syncedAt', to_char(ca.synced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))), '[]'::jsonb)
      FROM crew_assignments ca WHERE ca.crew_call_id = v_id;
END
$$;

-- The oldest roster version that can still be rebuilt (as calendar_history_floor).
CREATE FUNCTION "roster_history_floor"(p_crew_call_id uuid)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(rv.version) - 1 FROM roster_versions rv WHERE rv.crew_call_id = p_crew_call_id),
                    (SELECT cc.version FROM crew_calls cc WHERE cc.id = p_crew_call_id), 0)
$$;

-- The roster at p_version ([{technicianId, role}] by technician id, byte order), from one snapshot, as
-- calendar_set_at; NULL assignments when p_version is out of the kept history.
CREATE FUNCTION "roster_at"(p_crew_call_id uuid, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, assignments jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cc.version FROM crew_calls cc WHERE cc.id = p_crew_call_id), 0) AS current_version,
               roster_history_floor(p_crew_call_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.technician_id) c.technician_id, c.before
          FROM roster_changes c
         WHERE c.crew_call_id = p_crew_call_id AND c.version > p_version
         ORDER BY c.technician_id, c.version
    ), at_version AS (
        SELECT ca.technician_id, jsonb_build_object('technicianId', ca.technician_id, 'role', ca.role) AS assignment
          FROM crew_assignments ca
         WHERE ca.crew_call_id = p_crew_call_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.technician_id = ca.technician_id)
        UNION ALL
        SELECT fa.technician_id, fa.before FROM first_after fa WHERE fa.before IS NOT NULL
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.assignment ORDER BY a.technician_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;

-- The net changes to a roster since p_since, as calendar_changes_since.
CREATE FUNCTION "roster_changes_since"(p_crew_call_id uuid, p_since integer)
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

-- Makes the roster equal to version p_version's, as a new version (a roster change, so synced like
-- one), under the crew call's lock; version_available is false (nothing written, version: the current
-- one) when p_version cannot be rebuilt. Technicians deleted since are reported as unknown.
CREATE FUNCTION "restore_roster"(p_job_id text, p_department text, p_version integer, p_if_match integer[],
                                 p_debounce_ms integer, p_actor text, p_request_id text)
RETURNS TABLE (version_available boolean, crew_call_exists boolean, version integer, precondition_failed boolean,
               unknown_technicians integer[], created integer, updated integer, deleted integer, assignments jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid;
    v_set jsonb;
    v_current integer;
BEGIN
    SELECT cc.id INTO v_id FROM crew_calls cc
     WHERE cc.job_id = p_job_id AND cc.department = p_department FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT true, false, 0, false, NULL::integer[], 0, 0, 0, NULL::jsonb;
        RETURN;
    END IF;
    SELECT r.assignments, r.current_version INTO v_set, v_current FROM roster_at(v_id, p_version) r;
    IF v_set IS NULL THEN
        RETURN QUERY SELECT false, true, v_current, false, NULL::integer[], 0, 0, 0, NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT true, r.*
      FROM replace_roster(p_job_id, p_department, p_if_match,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('technician_id', a ->> 'technicianId',
                                                             'role', a ->> 'role')), '[]'::jsonb)
                  FROM jsonb_array_elements(v_set) AS a),
               p_debounce_ms, p_actor, p_request_id, p_version) r;
END
$$;

-- Deletes up to p_batch of the oldest roster versions no longer kept, as prune_calendar_history.
CREATE FUNCTION "prune_roster_history"(p_keep_versions integer, p_keep_days integer, p_batch integer)
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
