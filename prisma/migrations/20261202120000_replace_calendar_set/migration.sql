-- The calendar replace as one function call: one round trip instead of five (BEGIN, lock, DELETE,
-- upsert, COMMIT), through Prisma's $queryRaw with the set as one jsonb parameter. The same steps as
-- before, in one statement's transaction: lock the user's row (serializes replaces of one user), check
-- If-Match, delete what left the set, upsert the rest (skipping equal rows), bump the version only when
-- something changed, and return the final set with each row's change.
CREATE OR REPLACE FUNCTION "replace_calendar_set"(p_user_id text, p_if_match integer[], p_calendars jsonb)
RETURNS TABLE (version integer, precondition_failed boolean, deleted integer, calendars jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_current integer;
    v_deleted integer;
BEGIN
    -- The user's row lock: concurrent replaces of one user queue here. A user never replaced before
    -- is at version 0, and gets a row only when the request may go on (a refused one leaves no trace);
    -- ON CONFLICT DO UPDATE takes the lock of a row another replace inserted meanwhile.
    SELECT cs.version INTO v_current FROM calendar_sets cs WHERE cs.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        IF p_if_match IS NOT NULL AND NOT (0 = ANY (p_if_match)) THEN
            RETURN QUERY SELECT 0, true, 0, NULL::jsonb;
            RETURN;
        END IF;
        INSERT INTO calendar_sets (user_id) VALUES (p_user_id)
        ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
        RETURNING calendar_sets.version INTO v_current;
    END IF;

    IF p_if_match IS NOT NULL AND NOT (v_current = ANY (p_if_match)) THEN
        RETURN QUERY SELECT v_current, true, 0, NULL::jsonb;
        RETURN;
    END IF;

    DELETE FROM managed_calendars mc
     WHERE mc.user_id = p_user_id
       AND mc.calendar_id NOT IN (SELECT t.calendar_id FROM jsonb_to_recordset(p_calendars) AS t(calendar_id text));
    GET DIAGNOSTICS v_deleted = ROW_COUNT;

    -- Rows are fed primary-last, so a calendar losing primary is demoted before its successor is
    -- promoted (the one-primary index is checked row by row). Unchanged rows come from the statement's
    -- snapshot; NOT IN lets PostgreSQL hash the upserted ids.
    RETURN QUERY
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
        RETURNING mc.*, CASE WHEN mc.xmax = 0 THEN 'created' ELSE 'updated' END AS change
    ), bumped AS (
        UPDATE calendar_sets cs SET version = cs.version + 1, updated_at = now()
         WHERE cs.user_id = p_user_id AND (v_deleted > 0 OR EXISTS (SELECT 1 FROM upserted))
        RETURNING cs.version
    ), final AS (
        SELECT u.* FROM upserted u
        UNION ALL
        SELECT mc.*, 'unchanged' FROM managed_calendars mc
         WHERE mc.user_id = p_user_id AND mc.calendar_id NOT IN (SELECT u.calendar_id FROM upserted u)
    )
    SELECT coalesce((SELECT b.version FROM bumped b), v_current), false, v_deleted,
           coalesce(jsonb_agg(jsonb_build_object(
               'calendarId', f.calendar_id, 'summary', f.summary, 'description', f.description,
               'timeZone', f.time_zone, 'backgroundColor', f.background_color,
               'foregroundColor', f.foreground_color, 'accessRole', f.access_role,
               'primary', f.is_primary, 'selected', f.is_selected,
               'createdAt', to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'updatedAt', to_char(f.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'change', f.change)), '[]'::jsonb)
      FROM final f;
END
$$;
