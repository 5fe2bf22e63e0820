-- The calendar replace answers in JSON text, and stores that answer under the request's Idempotency-Key
-- in its own statement: with a key, a replace is two round trips (taking the key, this call) instead of
-- five, and the service neither parses the set PostgreSQL returns nor serializes it again.
DROP FUNCTION "replace_calendar_set"(text, integer[], jsonb);

-- Makes the user's set exactly p_calendars ([{calendar_id, summary, ...}], ids unique): locks the user's
-- row (replaces of one user queue here), checks If-Match, deletes what left the set, upserts the rest
-- (equal rows untouched; fed primary-last, so a calendar losing primary is demoted before its successor
-- is promoted), and bumps the version only when something changed. Returns the answer of
-- PUT /v1/users/{userId}/calendars as compact JSON (the ReplaceCalendarsResult schema, calendars in
-- byte order of their ids, which is code-point order); answer is NULL when If-Match failed. With
-- p_key (the request's Idempotency-Key held by p_key_owner), the answer is stored as the key's response
-- in the same transaction; a key another request took over meanwhile raises SQLSTATE RSK01 and nothing
-- is written.
CREATE FUNCTION "replace_calendar_set"(p_user_id text, p_if_match integer[], p_calendars jsonb,
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
    -- A user never replaced before is at version 0, and gets a row only when the request may go on (a
    -- refused one leaves no trace); ON CONFLICT DO UPDATE takes the lock of a row another replace
    -- inserted meanwhile.
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

    -- NOT IN over the parameter's ids: PostgreSQL hashes them.
    DELETE FROM managed_calendars mc
     WHERE mc.user_id = p_user_id
       AND mc.calendar_id NOT IN (SELECT t.calendar_id FROM jsonb_to_recordset(p_calendars) AS t(calendar_id text));
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    WITH upserted AS (
        INSERT INTO managed_calendars AS mc (user_id, calendar_id, summary, description, time_zone,
               background_color, foreground_color, access_role, is_primary, is_selected)
        SELECT p_user_id, t.calendar_id, t.summary, t.description, t.time_zone, t.background_color,
               t.foreground_color, t.access_role, coalesce(t.is_primary, false), coalesce(t.is_selected, false)
          FROM jsonb_to_recordset(p_calendars) AS t(calendar_id text, summary text, description text,
               time_zone text, background_color text, foreground_color text, access_role text,
               is_primary boolean, is_selected boolean)
         ORDER BY coalesce(t.is_primary, false)
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
        RETURNING mc.xmax = 0 AS inserted
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted)
      INTO v_created, v_updated FROM upserted u;

    IF v_created + v_updated + v_deleted > 0 THEN
        UPDATE calendar_sets cs SET version = cs.version + 1, updated_at = now()
         WHERE cs.user_id = p_user_id RETURNING cs.version INTO v_version;
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

-- One calendar as the API's Calendar schema, compact, its fields in the schema's order.
CREATE FUNCTION "calendar_json"(mc managed_calendars)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT '{"calendarId":' || to_json(mc.calendar_id)::text
        || ',"summary":' || to_json(mc.summary)::text
        || ',"description":' || coalesce(to_json(mc.description)::text, 'null')
        || ',"timeZone":' || coalesce(to_json(mc.time_zone)::text, 'null')
        || ',"backgroundColor":' || coalesce(to_json(mc.background_color)::text, 'null')
        || ',"foregroundColor":' || coalesce(to_json(mc.foreground_color)::text, 'null')
        || ',"accessRole":' || coalesce(to_json(mc.access_role)::text, 'null')
        || ',"primary":' || mc.is_primary::text
        || ',"selected":' || mc.is_selected::text
        || ',"createdAt":"' || to_char(mc.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || '","updatedAt":"' || to_char(mc.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || '"}'
$$;
