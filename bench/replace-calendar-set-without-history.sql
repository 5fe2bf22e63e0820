-- The bench's yardstick for what history costs (bench/history-cost.ts): prisma/functions/replace_calendar_set.sql
-- without its history (no calendar_versions row with its changes) and without Idempotency-Keys; the
-- same lock, If-Match, delete, upsert, version bump and answer. Created in the bench's database only.
CREATE OR REPLACE FUNCTION "replace_calendar_set_without_history"(p_user_id text, p_if_match integer[],
                                                                p_calendars jsonb)
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

    DELETE FROM managed_calendars mc
     WHERE mc.user_id = p_user_id
       AND mc.calendar_id NOT IN (SELECT t."calendarId" FROM jsonb_to_recordset(p_calendars) AS t("calendarId" text));
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

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
    RETURN QUERY SELECT v_version, false, v_answer;
END
$$;
