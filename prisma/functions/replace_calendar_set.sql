-- replace_calendar_set: the current definition (edit here, then: npm run db:function -- replace_calendar_set).
-- Callers: src/services/calendars/calendar-service.ts (CalendarService.replace); restore_calendar_set.
-- Guarantee (G1, G2, G3): makes the user's set exactly p_calendars (CalendarListEntry objects as the API
-- takes them, [{calendarId, summary, ...}], ids unique; other keys ignored, so the PUT's body as sent and
-- calendar_set_at's Calendar objects both fit) in one statement's transaction: locks the user's calendar_sets row (replaces of one user queue
-- here), checks If-Match (p_if_match; precondition_failed and nothing written when it fails), deletes what
-- left the set, upserts the rest with ON CONFLICT (equal rows untouched; primary-last, so a calendar losing
-- primary is demoted before its successor is promoted), bumps the version and records it in one
-- calendar_versions row (p_actor, p_request_id, p_restored_from, the counts, and its changes) only when
-- something changed: `changes` holds one calendar_change per changed calendar (its id and its row before
-- the change, or created for a new one), as its image after is the next change's before or today's row.
-- The row is written once, last, with its final counts (its trigger records the webhook event from NEW);
-- one tuple and one index entry per version, not one per changed row (migration 20261206160000), and
-- its changes composite values, not JSON (migration 20261206232624). Returns PUT
-- /v1/users/{userId}/calendars's answer as compact JSON (calendars in byte order of their ids). With p_idempotency (the request's Idempotency-Key, as take_idempotency_key takes it), the key
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
    v_changes calendar_change[];
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

    -- The version's changes: each changed calendar's row before the change, or created for a new one.
    -- Nothing written until the version row, when something changed.
    WITH gone AS (
        DELETE FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND mc.calendar_id NOT IN (SELECT t."calendarId" FROM jsonb_to_recordset(p_calendars) AS t("calendarId" text))
        RETURNING mc
    )
    SELECT count(*), array_agg(calendar_change((g.mc).calendar_id, g.mc))
      INTO v_deleted, v_changes FROM gone g;

    -- One snapshot: the final SELECT reads an updated row as it was before the upsert.
    WITH input AS (
        SELECT t."calendarId" AS calendar_id, t.summary, t.description, t."timeZone" AS time_zone,
               t."backgroundColor" AS background_color, t."foregroundColor" AS foreground_color,
               t."accessRole" AS access_role, t."primary" AS is_primary, t.selected AS is_selected
          FROM jsonb_to_recordset(p_calendars) AS t("calendarId" text, summary text, description text,
               "timeZone" text, "backgroundColor" text, "foregroundColor" text, "accessRole" text,
               "primary" boolean, selected boolean)
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
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted),
           v_changes || array_agg(calendar_change(u.calendar_id, p))
      INTO v_created, v_updated, v_changes
      -- A created row has no row before (p is NULL): its lookup is skipped.
      FROM upserted u LEFT JOIN managed_calendars p
        ON NOT u.inserted AND p.user_id = p_user_id AND p.calendar_id = u.calendar_id;

    IF v_created + v_updated + v_deleted > 0 THEN
        WITH bumped AS (
            UPDATE calendar_sets cs SET version = cs.version + 1, updated_at = now()
             WHERE cs.user_id = p_user_id RETURNING cs.version
        )
        INSERT INTO calendar_versions AS cv (user_id, version, actor, request_id, created, updated, deleted,
                                             restored_from, changes)
        SELECT p_user_id, b.version, p_actor, p_request_id, v_created, v_updated, v_deleted, p_restored_from,
               v_changes
          FROM bumped b
        RETURNING cv.version INTO v_version;
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
