-- Calendar set history: every replace that changes a set records, in its own statement's transaction,
-- the new version (who, which request, when, how many rows changed, a restore's source) and each row's
-- change with the row before and after (the API's Calendar objects). Kept HISTORY_KEEP_VERSIONS
-- versions per user, and every version younger than HISTORY_KEEP_DAYS (prune_calendar_history). Any
-- version from the oldest kept one's predecessor to the current one can be rebuilt (calendar_set_at),
-- diffed (calendar_changes_since) and restored (restore_calendar_set).

CREATE TABLE "calendar_versions" (
    "user_id"       TEXT NOT NULL,
    "version"       INTEGER NOT NULL,
    "changed_at"    TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor"         TEXT NOT NULL,
    "request_id"    TEXT,
    "created"       INTEGER NOT NULL,
    "updated"       INTEGER NOT NULL,
    "deleted"       INTEGER NOT NULL,
    "restored_from" INTEGER,
    CONSTRAINT "calendar_versions_pkey" PRIMARY KEY ("user_id", "version"),
    CONSTRAINT "calendar_versions_user_id_fkey" FOREIGN KEY ("user_id")
        REFERENCES "calendar_sets" ("user_id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "calendar_versions_changed_at_idx" ON "calendar_versions" ("changed_at");

CREATE TABLE "calendar_changes" (
    "user_id"     TEXT NOT NULL,
    "version"     INTEGER NOT NULL,
    "calendar_id" TEXT NOT NULL,
    "change"      TEXT NOT NULL,
    "before"      JSONB,
    "after"       JSONB,
    CONSTRAINT "calendar_changes_pkey" PRIMARY KEY ("user_id", "version", "calendar_id"),
    CONSTRAINT "calendar_changes_version_fkey" FOREIGN KEY ("user_id", "version")
        REFERENCES "calendar_versions" ("user_id", "version") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "calendar_changes_change_check" CHECK ("change" IN ('created', 'updated', 'deleted'))
);
-- The first change of each calendar after a version: what the set held at that version.
CREATE INDEX "calendar_changes_user_id_calendar_id_version_idx"
    ON "calendar_changes" ("user_id", "calendar_id", "version");

DROP FUNCTION "replace_calendar_set"(text, integer[], jsonb, text, text, uuid);

-- As before (20261202150000), and: records the version and each row's change when something changed,
-- with p_actor (the credential: service:<key name> or user:<sub>), p_request_id and, for a restore,
-- p_restored_from.
CREATE FUNCTION "replace_calendar_set"(p_user_id text, p_if_match integer[], p_calendars jsonb,
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
    INSERT INTO calendar_changes (user_id, version, calendar_id, change, before, after)
    SELECT p_user_id, v_version + 1, (g.mc).calendar_id, 'deleted', calendar_json(g.mc)::jsonb, NULL FROM gone g;
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
        RETURNING mc, mc.xmax = 0 AS inserted
    ), logged AS (
        INSERT INTO calendar_changes (user_id, version, calendar_id, change, before, after)
        SELECT p_user_id, v_version + 1, (u.mc).calendar_id,
               CASE WHEN u.inserted THEN 'created' ELSE 'updated' END,
               (SELECT calendar_json(p.mc)::jsonb FROM previous p WHERE (p.mc).calendar_id = (u.mc).calendar_id),
               calendar_json(u.mc)::jsonb
          FROM upserted u
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

-- The oldest version of a user's set that can still be rebuilt: the predecessor of the oldest kept
-- version, or the current version when none is kept (a set last changed before history began).
CREATE FUNCTION "calendar_history_floor"(p_user_id text)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(cv.version) - 1 FROM calendar_versions cv WHERE cv.user_id = p_user_id),
                    (SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0)
$$;

-- The set as it was at p_version (Calendar objects, by calendarId in byte order), from one snapshot:
-- today's rows, except each calendar changed since, which is what its first change after p_version
-- found (none: it was created after). NULL calendars when p_version is older than the floor or newer
-- than the current version.
CREATE FUNCTION "calendar_set_at"(p_user_id text, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, calendars jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.calendar_id) c.calendar_id, c.before
          FROM calendar_changes c
         WHERE c.user_id = p_user_id AND c.version > p_version
         ORDER BY c.calendar_id, c.version
    ), at_version AS (
        SELECT mc.calendar_id, calendar_json(mc)::jsonb AS calendar
          FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.calendar_id = mc.calendar_id)
        UNION ALL
        SELECT fa.calendar_id, fa.before FROM first_after fa WHERE fa.before IS NOT NULL
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.calendar ORDER BY a.calendar_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;

-- What changed since p_since, net: calendars that exist now and did not then (created), exist now and
-- changed (updated, as they are now), existed then and are gone (deleted: their ids). NULL lists when
-- p_since is older than the floor or newer than the current version.
CREATE FUNCTION "calendar_changes_since"(p_user_id text, p_since integer)
RETURNS TABLE (current_version integer, floor_version integer, created jsonb, updated jsonb, deleted jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), touched AS (
        SELECT DISTINCT ON (c.calendar_id) c.calendar_id, c.change AS first_change
          FROM calendar_changes c
         WHERE c.user_id = p_user_id AND c.version > p_since
         ORDER BY c.calendar_id, c.version
    ), net AS (
        SELECT t.calendar_id, t.first_change, calendar_json(mc)::jsonb AS calendar
          FROM touched t
          LEFT JOIN managed_calendars mc ON mc.user_id = p_user_id AND mc.calendar_id = t.calendar_id
    ), valid AS (
        SELECT p_since BETWEEN b.floor_version AND b.current_version AS ok FROM bounds b
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.calendar ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.first_change = 'created' AND n.calendar IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.calendar ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.first_change <> 'created' AND n.calendar IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(jsonb_build_object('calendarId', n.calendar_id)
                                                          ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.first_change <> 'created' AND n.calendar IS NULL) END
      FROM bounds b, valid v
$$;

-- Makes the set equal to version p_version's, as a new version (restored_from), under the user's
-- lock like any replace; version_available is false (nothing written, version: the current one) when
-- p_version cannot be rebuilt. The rebuilt Calendar objects go back in as the replace's input.
CREATE FUNCTION "restore_calendar_set"(p_user_id text, p_version integer, p_if_match integer[],
                                       p_actor text, p_request_id text, p_key_scope text DEFAULT NULL,
                                       p_key text DEFAULT NULL, p_key_owner uuid DEFAULT NULL)
RETURNS TABLE (version_available boolean, version integer, precondition_failed boolean, answer text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_set jsonb;
    v_current integer;
BEGIN
    PERFORM 1 FROM calendar_sets cs WHERE cs.user_id = p_user_id FOR UPDATE;
    SELECT s.calendars, s.current_version INTO v_set, v_current FROM calendar_set_at(p_user_id, p_version) s;
    IF v_set IS NULL THEN
        RETURN QUERY SELECT false, v_current, false, NULL::text;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT true, r.version, r.precondition_failed, r.answer
      FROM replace_calendar_set(
               p_user_id, p_if_match,
               (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'calendar_id', c ->> 'calendarId', 'summary', c ->> 'summary',
                    'description', c ->> 'description', 'time_zone', c ->> 'timeZone',
                    'background_color', c ->> 'backgroundColor', 'foreground_color', c ->> 'foregroundColor',
                    'access_role', c ->> 'accessRole', 'is_primary', (c ->> 'primary')::boolean,
                    'is_selected', (c ->> 'selected')::boolean)), '[]'::jsonb)
                  FROM jsonb_array_elements(v_set) AS c),
               p_actor, p_request_id, p_version, p_key_scope, p_key, p_key_owner) r;
END
$$;

-- Deletes up to p_batch of the oldest history versions (their changes with them) that are both beyond
-- the last p_keep_versions of their user and older than p_keep_days; returns how many. A user's
-- versions go oldest first, so what is kept is always a contiguous run up to the current version.
CREATE FUNCTION "prune_calendar_history"(p_keep_versions integer, p_keep_days integer, p_batch integer)
RETURNS integer
LANGUAGE sql AS $$
    WITH doomed AS (
        SELECT cv.user_id, cv.version
          FROM calendar_versions cv JOIN calendar_sets cs ON cs.user_id = cv.user_id
         WHERE cv.version <= cs.version - p_keep_versions
           AND cv.changed_at < now() - p_keep_days * interval '1 day'
         ORDER BY cv.user_id, cv.version
         LIMIT p_batch
    ), removed AS (
        DELETE FROM calendar_versions cv USING doomed d
         WHERE cv.user_id = d.user_id AND cv.version = d.version
        RETURNING 1
    )
    SELECT count(*)::integer FROM removed
$$;
