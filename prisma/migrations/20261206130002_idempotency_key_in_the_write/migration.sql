-- One keyed-write path (issue 18, item 3), keys that carry their tenant (issue 24), and If-Match in a key's
-- request (issue 23, item 5).
--
-- A keyed write takes its Idempotency-Key inside its own statement and stores its answer there too
-- (take_idempotency_key, store_idempotent_answer, called by the four set functions), so a keyed replace or
-- restore is one round trip, as an unkeyed one. The protocol: docs/api.md, Idempotency.
--
-- The tenant leads the key (tenant, scope, key), so the table can be distributed by it (issue 24; the
-- plan: docs/scaling.md). The tenant is the route's first path parameter: a calendar write's user id, a
-- crew write's job id, a technician write's id. On Citus this table joins the group "user" (distributed by
-- tenant, text): a calendar write's key lands on the shard of the user's set, so replace_calendar_set,
-- delegated by p_user_id, takes and stores it on that node in one statement. Crew writes are the
-- exception: the group "crew_call" is distributed by the crew call's uuid, which a text key column cannot
-- colocate with, so the port gives them a key table of their own in that group (tenant: the crew call id,
-- which replace_roster resolves before it takes the key): one key table per colocation group.
-- take_idempotency_key and store_idempotent_answer are the only SQL that names the table, so that is where
-- the port changes. Existing keys get the tenant '' and expire as before (a retry of one made before this
-- migration runs again).
--
-- if_match: the If-Match a key was first used with, so a reuse with another one is refused naming it.

ALTER TABLE "idempotency_keys" ADD COLUMN "tenant" TEXT NOT NULL DEFAULT '';
ALTER TABLE "idempotency_keys" ADD COLUMN "if_match" TEXT;
ALTER TABLE "idempotency_keys" ALTER COLUMN "tenant" DROP DEFAULT;
ALTER TABLE "idempotency_keys" DROP CONSTRAINT "idempotency_keys_pkey";
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("tenant", "scope", "key");

-- Their signatures change: the key is one jsonb argument, and they answer a key_verdict.
DROP FUNCTION "restore_calendar_set"(text, integer, integer[], text, text, text, text, uuid);
DROP FUNCTION "replace_calendar_set"(text, integer[], jsonb, text, text, integer, text, text, uuid);
DROP FUNCTION "restore_roster"(text, text, integer, integer[], integer, text, text);
DROP FUNCTION "replace_roster"(text, text, integer[], jsonb, integer, text, text, integer);

-- The current definition of take_idempotency_key, store_idempotent_answer, replace_calendar_set, restore_calendar_set, replace_roster, restore_roster, copied from prisma/functions/ by npm run db:function.
-- CREATE OR REPLACE cannot change a function's arguments or result type: for that, add
-- DROP FUNCTION "<name>"(<old argument types>); above its definition.

-- take_idempotency_key: the current definition (edit here, then: npm run db:function -- take_idempotency_key).
-- Callers: replace_calendar_set, restore_calendar_set, replace_roster, restore_roster (first, inside their
-- own statement); src/services/idempotency/key-store.ts (a sync's take; an interactive write's first statement).
-- Guarantee: one request at a time runs under a key, and a key answers only the request it was first used
-- for (the protocol: docs/api.md, Idempotency). p_request is {tenant, scope, key, fingerprint, ifMatch, owner,
-- leaseMs, ttlSeconds}. NULL: this transaction holds the key (in_progress, owned by owner; taking it again
-- is a no-op). Otherwise what the key holds: {"verdict":"replay", status, headers, body (base64)},
-- {"verdict":"reused", ifMatch (or inFlight: its first request has not committed)} or {"verdict":"running", leaseLeftMs}. A holder that has not committed holds
-- advisory locks on the key and on the key with its fingerprint, so a concurrent retry answers at once
-- (running, or reused for another request) instead of waiting behind it.
CREATE OR REPLACE FUNCTION "take_idempotency_key"(p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant text := p_request ->> 'tenant';
    v_scope text := p_request ->> 'scope';
    v_key text := p_request ->> 'key';
    v_fingerprint text := p_request ->> 'fingerprint';
    v_owner uuid := (p_request ->> 'owner')::uuid;
    v_lock text := 'rostersync.idempotency ' || v_tenant || ' ' || v_scope || ' ' || v_key;
    v_row idempotency_keys;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(v_lock || ' ' || v_fingerprint, 0)) THEN
        RETURN jsonb_build_object('verdict', 'running', 'leaseLeftMs', 1000);
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtextextended(v_lock, 0)) THEN
        RETURN jsonb_build_object('verdict', 'reused', 'inFlight', true);
    END IF;
    INSERT INTO idempotency_keys AS k (tenant, scope, key, fingerprint, if_match, owner, locked_until, expires_at)
    VALUES (v_tenant, v_scope, v_key, v_fingerprint, p_request ->> 'ifMatch', v_owner,
            now() + (p_request ->> 'leaseMs')::float8 * interval '1 millisecond',
            now() + (p_request ->> 'ttlSeconds')::float8 * interval '1 second')
    ON CONFLICT (tenant, scope, key) DO UPDATE SET
           fingerprint = EXCLUDED.fingerprint, if_match = EXCLUDED.if_match, state = 'in_progress',
           owner = EXCLUDED.owner, locked_until = EXCLUDED.locked_until, response_status = NULL,
           response_headers = NULL, response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
     WHERE (k.expires_at <= now() AND (k.state = 'completed' OR k.locked_until <= now()))
        OR (k.state = 'in_progress' AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint);
    IF FOUND THEN
        RETURN NULL;
    END IF;
    -- Locked by the ON CONFLICT above: it is still there.
    SELECT * INTO v_row FROM idempotency_keys k
     WHERE k.tenant = v_tenant AND k.scope = v_scope AND k.key = v_key;
    IF v_row.state = 'in_progress' AND v_row.owner = v_owner THEN
        RETURN NULL;
    END IF;
    IF v_row.fingerprint <> v_fingerprint THEN
        RETURN jsonb_build_object('verdict', 'reused', 'ifMatch', v_row.if_match);
    END IF;
    IF v_row.state = 'completed' THEN
        RETURN jsonb_build_object('verdict', 'replay', 'status', v_row.response_status,
                                  'headers', v_row.response_headers, 'body', encode(v_row.response_body, 'base64'));
    END IF;
    RETURN jsonb_build_object('verdict', 'running',
                              'leaseLeftMs', greatest(1, extract(epoch FROM v_row.locked_until - now()) * 1000));
END
$$;

-- store_idempotent_answer: the current definition (edit here, then: npm run db:function -- store_idempotent_answer).
-- Callers: replace_calendar_set, replace_roster (last, inside their own statement).
-- Guarantee: the answer of the write whose transaction holds the key (p_request, as take_idempotency_key's)
-- is kept with it, in the same transaction: both commit or neither. A key no longer held by p_request's
-- owner (a retry took it over after its lease lapsed) raises SQLSTATE RSK01, which rolls the write back.
CREATE OR REPLACE FUNCTION "store_idempotent_answer"(p_request jsonb, p_status integer, p_headers jsonb,
                                          p_body text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idempotency_keys k
       SET state = 'completed', locked_until = NULL, response_status = p_status, response_headers = p_headers,
           response_body = convert_to(p_body, 'UTF8')
     WHERE k.tenant = p_request ->> 'tenant' AND k.scope = p_request ->> 'scope' AND k.key = p_request ->> 'key'
       AND k.owner = (p_request ->> 'owner')::uuid AND k.state = 'in_progress';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the Idempotency-Key of this request was taken over by a retry' USING ERRCODE = 'RSK01';
    END IF;
END
$$;

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
-- their ids). With p_idempotency (the request's Idempotency-Key, as take_idempotency_key takes it), the key
-- is taken first (a key_verdict instead and nothing written when it answers another way: replay, reused,
-- running) and the answer is stored as its response in the same statement (store_idempotent_answer).
CREATE OR REPLACE FUNCTION "replace_calendar_set"(p_user_id text, p_if_match integer[], p_calendars jsonb,
                                       p_actor text, p_request_id text, p_restored_from integer DEFAULT NULL,
                                       p_idempotency jsonb DEFAULT NULL)
RETURNS TABLE (version integer, precondition_failed boolean, answer text, key_verdict jsonb)
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
    v_verdict jsonb;
BEGIN
    IF p_idempotency IS NOT NULL THEN
        v_verdict := take_idempotency_key(p_idempotency);
        IF v_verdict IS NOT NULL THEN
            RETURN QUERY SELECT 0, false, NULL::text, v_verdict;
            RETURN;
        END IF;
    END IF;
    SELECT cs.version INTO v_version FROM calendar_sets cs WHERE cs.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        IF p_if_match IS NOT NULL AND NOT (0 = ANY (p_if_match)) THEN
            RETURN QUERY SELECT 0, true, NULL::text, NULL::jsonb;
            RETURN;
        END IF;
        INSERT INTO calendar_sets (user_id) VALUES (p_user_id)
        ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
        RETURNING calendar_sets.version INTO v_version;
    END IF;
    IF p_if_match IS NOT NULL AND NOT (v_version = ANY (p_if_match)) THEN
        RETURN QUERY SELECT v_version, true, NULL::text, NULL::jsonb;
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

    IF p_idempotency IS NOT NULL THEN
        PERFORM store_idempotent_answer(p_idempotency, 200,
                    jsonb_build_object('content-type', 'application/json; charset=utf-8',
                                       'etag', '"' || v_version || '"'), v_answer);
    END IF;

    RETURN QUERY SELECT v_version, false, v_answer, NULL::jsonb;
END
$$;

-- restore_calendar_set: the current definition (edit here, then: npm run db:function -- restore_calendar_set).
-- Callers: src/services/calendar-service.ts (CalendarService.restore).
-- Guarantee: makes the set equal to version p_version's (calendar_set_at) as a new version with
-- restored_from, through replace_calendar_set, so atomic and serialized like any replace;
-- version_available is false (nothing written, version: the current one) when p_version cannot be rebuilt.
-- With p_idempotency, the key is taken first, as replace_calendar_set does.
CREATE OR REPLACE FUNCTION "restore_calendar_set"(p_user_id text, p_version integer, p_if_match integer[],
                                       p_actor text, p_request_id text, p_idempotency jsonb DEFAULT NULL)
RETURNS TABLE (version_available boolean, version integer, precondition_failed boolean, answer text,
               key_verdict jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_set jsonb;
    v_current integer;
    v_verdict jsonb;
BEGIN
    IF p_idempotency IS NOT NULL THEN
        v_verdict := take_idempotency_key(p_idempotency);
        IF v_verdict IS NOT NULL THEN
            RETURN QUERY SELECT true, 0, false, NULL::text, v_verdict;
            RETURN;
        END IF;
    END IF;
    PERFORM 1 FROM calendar_sets cs WHERE cs.user_id = p_user_id FOR UPDATE;
    SELECT s.calendars, s.current_version INTO v_set, v_current FROM calendar_set_at(p_user_id, p_version) s;
    IF v_set IS NULL THEN
        RETURN QUERY SELECT false, v_current, false, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT true, r.version, r.precondition_failed, r.answer, r.key_verdict
      FROM replace_calendar_set(
               p_user_id, p_if_match,
               (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'calendar_id', c ->> 'calendarId', 'summary', c ->> 'summary',
                    'description', c ->> 'description', 'time_zone', c ->> 'timeZone',
                    'background_color', c ->> 'backgroundColor', 'foreground_color', c ->> 'foregroundColor',
                    'access_role', c ->> 'accessRole', 'is_primary', (c ->> 'primary')::boolean,
                    'is_selected', (c ->> 'selected')::boolean)), '[]'::jsonb)
                  FROM jsonb_array_elements(v_set) AS c),
               p_actor, p_request_id, p_version, p_idempotency) r;
END
$$;

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
