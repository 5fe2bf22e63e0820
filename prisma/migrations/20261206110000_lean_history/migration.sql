-- Leaner history (issue 21): a change keeps only the row as it was before it, never the row after (that is
-- the next change's before image, or today's row), so a replace writes one image per deleted or updated row
-- and none per created one, built by to_jsonb(row) instead of rendered as the API's JSON and parsed back.
-- calendar_changes.before_row: the managed_calendars row before the change (to_jsonb; read back with
-- jsonb_populate_record and rendered by calendar_json), NULL for a created calendar.
-- roster_changes.before_role: the assignment's role before the change, NULL for a created one (and for a
-- role that was null: the change kind tells them apart).
-- The second index of each table, (scope, row id, version), goes: every reader (calendar_set_at,
-- calendar_changes_since, roster_at, roster_changes_since) and pruning's cascade read a scope's changes
-- after a version, which the primary key (scope, version, row id) serves, so the index only cost a write.
-- Existing history is converted in place and stays readable at every kept version.

ALTER TABLE "calendar_changes" ADD COLUMN "before_row" JSONB;
UPDATE "calendar_changes"
   SET "before_row" = jsonb_build_object(
           'user_id', "user_id", 'calendar_id', "calendar_id",
           'summary', "before" -> 'summary', 'description', "before" -> 'description',
           'time_zone', "before" -> 'timeZone', 'background_color', "before" -> 'backgroundColor',
           'foreground_color', "before" -> 'foregroundColor', 'access_role', "before" -> 'accessRole',
           'is_primary', "before" -> 'primary', 'is_selected', "before" -> 'selected',
           'created_at', "before" -> 'createdAt', 'updated_at', "before" -> 'updatedAt')
 WHERE "before" IS NOT NULL;
ALTER TABLE "calendar_changes" DROP COLUMN "before", DROP COLUMN "after";
DROP INDEX "calendar_changes_user_id_calendar_id_version_idx";

ALTER TABLE "roster_changes" ADD COLUMN "before_role" TEXT;
UPDATE "roster_changes" SET "before_role" = "before" ->> 'role' WHERE "before" IS NOT NULL;
ALTER TABLE "roster_changes" DROP COLUMN "before", DROP COLUMN "after";
DROP INDEX "roster_changes_crew_call_id_technician_id_version_idx";

-- The current definitions of replace_calendar_set, calendar_set_at, replace_roster, mark_roster_changed and
-- roster_at, as in prisma/functions/.

-- replace_calendar_set: the current definition (edit here, then: npm run db:function -- replace_calendar_set).
-- Callers: src/services/calendar-service.ts (CalendarService.replace); restore_calendar_set.
-- Guarantee (G1, G2, G3): makes the user's set exactly p_calendars ([{calendar_id, summary, ...}], ids
-- unique) in one statement's transaction: locks the user's calendar_sets row (replaces of one user queue
-- here), checks If-Match (p_if_match; precondition_failed and nothing written when it fails), deletes what
-- left the set, upserts the rest with ON CONFLICT (equal rows untouched; primary-last, so a calendar losing
-- primary is demoted before its successor is promoted), bumps the version and records it with each row's
-- change in calendar_versions/calendar_changes (p_actor, p_request_id, p_restored_from) only when something
-- changed: a changed row's history keeps only its image before the change (to_jsonb of the row; none for a
-- created one), as its image after is the next change's before or today's row. Returns PUT /v1/users/{userId}/calendars's answer as compact JSON (calendars in byte order of
-- their ids). With p_key (the request's Idempotency-Key held by p_key_owner), the answer is stored as the
-- key's response in the same transaction; a key a retry took over meanwhile raises SQLSTATE RSK01 and
-- nothing is written.
CREATE OR REPLACE FUNCTION "replace_calendar_set"(p_user_id text, p_if_match integer[], p_calendars jsonb,
                                       p_actor text, p_request_id text, p_restored_from integer DEFAULT NULL,
                                       p_key_scope text DEFAULT NULL, p_key text DEFAULT NULL,
                                       p_key_owner uuid DEFAULT NULL)
RETURNS TABLE (version integer, precondition_failed boolean, answer text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_version integer;
    v_deleted integer;
    v_created integer;
    v_updated integer;
    v_count integer;
    v_items text;
    v_answer text;
BEGIN
    SELECT cs.version INTO v_version FROM calendar_sets cs WHERE cs.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        IF p_if_match IS NOT NULL AND NOT (0 = ANY (p_if_match)) THEN
            RETURN QUERY SELECT 0, true, NULL::text;
            RETURN;
        END IF;
        INSERT INTO calendar_sets (user_id) VALUES (p_user_id)
        ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
        RETURNING calendar_sets.version INTO v_version;
    END IF;
    IF p_if_match IS NOT NULL AND NOT (v_version = ANY (p_if_match)) THEN
        RETURN QUERY SELECT v_version, true, NULL::text;
        RETURN;
    END IF;

    -- The version row first: each row's change refers to it. Removed below when nothing changed.
    INSERT INTO calendar_versions (user_id, version, actor, request_id, created, updated, deleted, restored_from)
    VALUES (p_user_id, v_version + 1, p_actor, p_request_id, 0, 0, 0, p_restored_from);

    WITH gone AS (
        DELETE FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND mc.calendar_id NOT IN (SELECT t.calendar_id FROM jsonb_to_recordset(p_calendars) AS t(calendar_id text))
        RETURNING mc
    )
    INSERT INTO calendar_changes (user_id, version, calendar_id, change, before_row)
    SELECT p_user_id, v_version + 1, (g.mc).calendar_id, 'deleted', to_jsonb(g.mc) FROM gone g;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    -- One snapshot: `previous` sees the rows as they were before the upsert.
    WITH input AS (
        SELECT * FROM jsonb_to_recordset(p_calendars) AS t(calendar_id text, summary text, description text,
               time_zone text, background_color text, foreground_color text, access_role text,
               is_primary boolean, is_selected boolean)
    ), previous AS (
        SELECT mc FROM managed_calendars mc JOIN input i ON i.calendar_id = mc.calendar_id
         WHERE mc.user_id = p_user_id
    ), upserted AS (
        INSERT INTO managed_calendars AS mc (user_id, calendar_id, summary, description, time_zone,
               background_color, foreground_color, access_role, is_primary, is_selected)
        SELECT p_user_id, i.calendar_id, i.summary, i.description, i.time_zone, i.background_color,
               i.foreground_color, i.access_role, coalesce(i.is_primary, false), coalesce(i.is_selected, false)
          FROM input i
         ORDER BY coalesce(i.is_primary, false)
        ON CONFLICT (user_id, calendar_id) DO UPDATE SET
               summary = EXCLUDED.summary, description = EXCLUDED.description,
               time_zone = EXCLUDED.time_zone, background_color = EXCLUDED.background_color,
               foreground_color = EXCLUDED.foreground_color, access_role = EXCLUDED.access_role,
               is_primary = EXCLUDED.is_primary, is_selected = EXCLUDED.is_selected, updated_at = now()
         WHERE (mc.summary, mc.description, mc.time_zone, mc.background_color, mc.foreground_color,
                mc.access_role, mc.is_primary, mc.is_selected)
               IS DISTINCT FROM
               (EXCLUDED.summary, EXCLUDED.description, EXCLUDED.time_zone, EXCLUDED.background_color,
                EXCLUDED.foreground_color, EXCLUDED.access_role, EXCLUDED.is_primary, EXCLUDED.is_selected)
        RETURNING mc.calendar_id, mc.xmax = 0 AS inserted
    ), logged AS (
        INSERT INTO calendar_changes (user_id, version, calendar_id, change, before_row)
        SELECT p_user_id, v_version + 1, u.calendar_id,
               CASE WHEN u.inserted THEN 'created' ELSE 'updated' END, to_jsonb(p.mc)
          FROM upserted u LEFT JOIN previous p ON (p.mc).calendar_id = u.calendar_id
        RETURNING change
    )
    SELECT count(*) FILTER (WHERE l.change = 'created'), count(*) FILTER (WHERE l.change = 'updated')
      INTO v_created, v_updated FROM logged l;

    IF v_created + v_updated + v_deleted > 0 THEN
        UPDATE calendar_sets cs SET version = cs.version + 1, updated_at = now()
         WHERE cs.user_id = p_user_id RETURNING cs.version INTO v_version;
        UPDATE calendar_versions cv SET created = v_created, updated = v_updated, deleted = v_deleted
         WHERE cv.user_id = p_user_id AND cv.version = v_version;
    ELSE
        DELETE FROM calendar_versions cv WHERE cv.user_id = p_user_id AND cv.version = v_version + 1;
    END IF;

    SELECT count(*), coalesce(string_agg(calendar_json(mc), ',' ORDER BY mc.calendar_id COLLATE "C"), '')
      INTO v_count, v_items
      FROM managed_calendars mc WHERE mc.user_id = p_user_id;
    v_answer := '{"userId":' || to_json(p_user_id)::text || ',"version":' || v_version
             || ',"calendars":[' || v_items || '],"changes":{"created":' || v_created
             || ',"updated":' || v_updated || ',"deleted":' || v_deleted
             || ',"unchanged":' || (v_count - v_created - v_updated) || '}}';

    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys k
           SET state = 'completed', locked_until = NULL, response_status = 200,
               response_headers = jsonb_build_object('content-type', 'application/json; charset=utf-8',
                                                     'etag', '"' || v_version || '"'),
               response_body = convert_to(v_answer, 'UTF8')
         WHERE k.scope = p_key_scope AND k.key = p_key AND k.owner = p_key_owner AND k.state = 'in_progress';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'the Idempotency-Key of this request was taken over by a retry'
                USING ERRCODE = 'RSK01';
        END IF;
    END IF;

    RETURN QUERY SELECT v_version, false, v_answer;
END
$$;

-- calendar_set_at: the current definition (edit here, then: npm run db:function -- calendar_set_at).
-- Callers: src/services/calendar-history-service.ts (CalendarHistoryService.setAt); restore_calendar_set.
-- Guarantee: the set as it was at p_version (Calendar objects by calendarId in byte order), from one
-- snapshot: today's rows, except each calendar changed since, which is the row its first change after
-- p_version found (its before_row; none: it was created after). NULL calendars when p_version is older than the floor
-- or newer than the current version.
CREATE OR REPLACE FUNCTION "calendar_set_at"(p_user_id text, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, calendars jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.calendar_id) c.calendar_id, c.change, c.before_row
          FROM calendar_changes c
         WHERE c.user_id = p_user_id AND c.version > p_version
         ORDER BY c.calendar_id, c.version
    ), at_version AS (
        SELECT mc.calendar_id, calendar_json(mc)::jsonb AS calendar
          FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.calendar_id = mc.calendar_id)
        UNION ALL
        SELECT fa.calendar_id, calendar_json(jsonb_populate_record(NULL::managed_calendars, fa.before_row))::jsonb
          FROM first_after fa WHERE fa.change <> 'created'
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.calendar ORDER BY a.calendar_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;

-- mark_roster_changed: the current definition (edit here, then: npm run db:function -- mark_roster_changed).
-- Callers: src/services/roster-service.ts (RosterService.markChanged); replace_roster.
-- Guarantee: a roster change of a crew call whose row the caller has locked: the next version, a reconcile
-- due within p_debounce_ms (a burst of changes shares it; pending from now unless one already was; a crew
-- call whose automatic syncs gave up is re-armed), and the change recorded in roster_versions/roster_changes
-- (p_changes is [{technician_id, change, before}]: of each change only the role before it is kept, as the
-- one after is the next change's before or today's assignment; an `after` is ignored). NULL when the crew
-- call does not exist.
CREATE OR REPLACE FUNCTION "mark_roster_changed"(p_crew_call_id uuid, p_debounce_ms integer, p_actor text,
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
    INSERT INTO roster_changes (crew_call_id, version, technician_id, change, before_role)
    SELECT p_crew_call_id, v_version, c ->> 'technician_id', c ->> 'change', c -> 'before' ->> 'role'
      FROM jsonb_array_elements(p_changes) AS c;
    RETURN v_version;
END
$$;

-- replace_roster: the current definition (edit here, then: npm run db:function -- replace_roster).
-- Callers: src/services/roster-service.ts (RosterService.replace); restore_roster.
-- Guarantee (G1, G2, G3): makes a crew call's roster exactly p_assignments ([{technician_id, role}], ids
-- unique) in one statement's transaction: locks the crew call (roster writes of one crew call queue here),
-- checks If-Match, refuses technicians that do not exist (their 0-based positions, nothing written),
-- deletes who left, upserts the rest with ON CONFLICT (equal rows untouched), and only when something
-- changed calls mark_roster_changed (next version, history, reconcile scheduled). crew_call_exists is
-- false when the crew call does not exist.
CREATE OR REPLACE FUNCTION "replace_roster"(p_job_id text, p_department text, p_if_match integer[], p_assignments jsonb,
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

    RETURN QUERY
    SELECT true, v_version, false, NULL::integer[], v_created, v_updated, v_deleted,
           coalesce(jsonb_agg(jsonb_build_object(
               'technicianId', ca.technician_id, 'role', ca.role, 'flexLineItemId', ca.flex_line_item_id,
               'syncedAt', to_char(ca.synced_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))), '[]'::jsonb)
      FROM crew_assignments ca WHERE ca.crew_call_id = v_id;
END
$$;

-- roster_at: the current definition (edit here, then: npm run db:function -- roster_at).
-- Callers: src/services/roster-history-service.ts (RosterHistoryService.at); restore_roster.
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

