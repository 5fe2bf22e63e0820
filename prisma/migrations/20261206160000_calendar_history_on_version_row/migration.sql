-- Calendar history on the version row (issue 21, "cheaper history"): a replace wrote one calendar_changes
-- row per changed calendar (a heap tuple and a primary-key index entry each: 20 of each for a replace
-- that creates 10 calendars and deletes 10) besides its calendar_versions row. Now the version row holds
-- its changes: calendar_versions.changes, a jsonb object keyed by calendar id whose value is the row's
-- image before the change (to_jsonb of the managed_calendars row without id, user_id and calendar_id, as
-- calendar_changes.before_row was) or JSON null for a created calendar. One tuple and one index entry
-- per version. The change's kind is not stored: created is the null image; updated or deleted is told
-- by whether the calendar exists at the version (the next change's key or today's row), which is how
-- calendar_set_at and calendar_changes_since read it; the counts stay on the version row. Of the
-- variants measured (bench/history-cost.ts with trial contenders), an array of {calendarId, change,
-- before} cost more (1.481 vs 1.217 ms in the function, 8,233 stored bytes per replace: over a page, moved
-- out) and the created ids as a text[] column beside the images no less (1.241 ms, same bytes).
-- - toast_tuple_target = 8160: the changes of a replace like the bench's (10 deleted images of about 300
--   bytes) pass the 2 KB at which PostgreSQL would otherwise compress the row; a row up to a page is now
--   stored as it is, larger ones are compressed and moved out as before. Measured with a variant of
--   bench/history-cost.ts, two runs: the function's time 1.137 and 1.217 ms per replace with it, 1.218
--   and 1.238 without; the serving backend's CPU 1.137 and 1.130 ms, 1.210 and 1.387 without; at the
--   price of WAL (9,056 vs 5,797 bytes per replace) and stored bytes (4,137 vs 635): RESET it to trade
--   the CPU for space.
-- - The kept history moves over, per (user_id, version); calendar_changes goes (and with it the last
--   readers: calendar_set_at, calendar_changes_since, prune_calendar_history, whose new definitions follow).
--   Change rows whose version row is gone were never read (they lie below the history floor) and go too.

ALTER TABLE "calendar_versions" ADD COLUMN "changes" JSONB;
UPDATE "calendar_versions" cv
   SET "changes" = c.changes
  FROM (SELECT "user_id", "version",
               jsonb_object_agg("calendar_id",
                                CASE WHEN "change" = 'created' THEN NULL
                                     ELSE "before_row" - '{id,user_id,calendar_id}'::text[] END) AS changes
          FROM "calendar_changes"
         GROUP BY "user_id", "version") c
 WHERE cv."user_id" = c."user_id" AND cv."version" = c."version";
UPDATE "calendar_versions" SET "changes" = '{}' WHERE "changes" IS NULL;
ALTER TABLE "calendar_versions" ALTER COLUMN "changes" SET NOT NULL;
ALTER TABLE "calendar_versions" SET (toast_tuple_target = 8160);

-- The current definitions of replace_calendar_set, calendar_set_at, calendar_changes_since and
-- prune_calendar_history, as in prisma/functions/ (npm run db:function).

-- replace_calendar_set: the current definition (edit here, then: npm run db:function -- replace_calendar_set).
-- Callers: src/services/calendars/calendar-service.ts (CalendarService.replace); restore_calendar_set.
-- Guarantee (G1, G2, G3): makes the user's set exactly p_calendars (CalendarListEntry objects as the API
-- takes them, [{calendarId, summary, ...}], ids unique; other keys ignored, so the PUT's body as sent and
-- calendar_set_at's Calendar objects both fit) in one statement's transaction: locks the user's calendar_sets row (replaces of one user queue
-- here), checks If-Match (p_if_match; precondition_failed and nothing written when it fails), deletes what
-- left the set, upserts the rest with ON CONFLICT (equal rows untouched; primary-last, so a calendar losing
-- primary is demoted before its successor is promoted), bumps the version and records it in one
-- calendar_versions row (p_actor, p_request_id, p_restored_from, the counts, and its changes) only when
-- something changed: `changes` is keyed by calendar id, each changed row's image before the change
-- (to_jsonb of the row without user_id, calendar_id, id: the key holds the id, no reader needs the
-- others) or JSON null for a created one, as its image after is the next change's before or today's row.
-- The row is written once, last, with its final counts (its trigger records the webhook event from NEW);
-- one tuple and one index entry per version, not one per changed row (migration 20261206160000). Returns PUT
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
    v_changes jsonb;
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

    -- The version's changes, keyed by calendar id: each changed row's image before the change, JSON
    -- null for a created one. Nothing written until the version row, when something changed.
    WITH gone AS (
        DELETE FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND mc.calendar_id NOT IN (SELECT t."calendarId" FROM jsonb_to_recordset(p_calendars) AS t("calendarId" text))
        RETURNING mc
    )
    SELECT count(*), jsonb_object_agg((g.mc).calendar_id, to_jsonb(g.mc) - '{id,user_id,calendar_id}'::text[])
      INTO v_deleted, v_changes FROM gone g;

    -- One snapshot: `previous` sees the rows as they were before the upsert.
    WITH input AS (
        SELECT t."calendarId" AS calendar_id, t.summary, t.description, t."timeZone" AS time_zone,
               t."backgroundColor" AS background_color, t."foregroundColor" AS foreground_color,
               t."accessRole" AS access_role, t."primary" AS is_primary, t.selected AS is_selected
          FROM jsonb_to_recordset(p_calendars) AS t("calendarId" text, summary text, description text,
               "timeZone" text, "backgroundColor" text, "foregroundColor" text, "accessRole" text,
               "primary" boolean, selected boolean)
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
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*) FILTER (WHERE NOT u.inserted),
           coalesce(v_changes, '{}'::jsonb)
           || coalesce(jsonb_object_agg(u.calendar_id, to_jsonb(p.mc) - '{id,user_id,calendar_id}'::text[]), '{}'::jsonb)
      INTO v_created, v_updated, v_changes
      FROM upserted u LEFT JOIN previous p ON (p.mc).calendar_id = u.calendar_id;

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

-- calendar_set_at: the current definition (edit here, then: npm run db:function -- calendar_set_at).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.setAt); restore_calendar_set.
-- Guarantee: the set as it was at p_version (Calendar objects by calendarId in byte order), from one
-- snapshot: today's rows, except each calendar changed since, which is the image its first change after
-- p_version holds (the versions' `changes`, keyed by calendar id: the row before the change without its
-- user_id and calendar_id, put back here; JSON null: it was created after). NULL calendars when p_version
-- is older than the floor or newer than the current version.
CREATE OR REPLACE FUNCTION "calendar_set_at"(p_user_id text, p_version integer)
RETURNS TABLE (current_version integer, floor_version integer, calendars jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), first_after AS (
        SELECT DISTINCT ON (c.key) c.key AS calendar_id, c.value AS before_row
          FROM calendar_versions cv, jsonb_each(cv.changes) c
         WHERE cv.user_id = p_user_id AND cv.version > p_version
         ORDER BY c.key, cv.version
    ), at_version AS (
        SELECT mc.calendar_id, calendar_json(mc)::jsonb AS calendar
          FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND NOT EXISTS (SELECT 1 FROM first_after fa WHERE fa.calendar_id = mc.calendar_id)
        UNION ALL
        SELECT fa.calendar_id, calendar_json(jsonb_populate_record(NULL::managed_calendars,
                   fa.before_row || jsonb_build_object('user_id', p_user_id, 'calendar_id', fa.calendar_id)))::jsonb
          FROM first_after fa WHERE fa.before_row <> 'null'::jsonb
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.calendar ORDER BY a.calendar_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;

-- calendar_changes_since: the current definition (edit here, then: npm run db:function -- calendar_changes_since).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.changesSince).
-- Guarantee: the net changes since p_since, read from one snapshot: calendars that exist now and did not
-- then (created), exist now and changed (updated, as they are now), existed then and are gone (deleted:
-- their ids), from each calendar's first change after p_since in the versions' `changes` (JSON null:
-- created) and today's row. NULL lists when p_since is older than the history floor or newer than the
-- current version.
CREATE OR REPLACE FUNCTION "calendar_changes_since"(p_user_id text, p_since integer)
RETURNS TABLE (current_version integer, floor_version integer, created jsonb, updated jsonb, deleted jsonb)
LANGUAGE sql STABLE AS $$
    WITH bounds AS (
        SELECT coalesce((SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0) AS current_version,
               calendar_history_floor(p_user_id) AS floor_version
    ), touched AS (
        SELECT DISTINCT ON (c.key) c.key AS calendar_id, c.value = 'null'::jsonb AS created
          FROM calendar_versions cv, jsonb_each(cv.changes) c
         WHERE cv.user_id = p_user_id AND cv.version > p_since
         ORDER BY c.key, cv.version
    ), net AS (
        SELECT t.calendar_id, t.created, calendar_json(mc)::jsonb AS calendar
          FROM touched t
          LEFT JOIN managed_calendars mc ON mc.user_id = p_user_id AND mc.calendar_id = t.calendar_id
    ), valid AS (
        SELECT p_since BETWEEN b.floor_version AND b.current_version AS ok FROM bounds b
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.calendar ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE n.created AND n.calendar IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(n.calendar ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE NOT n.created AND n.calendar IS NOT NULL) END,
           CASE WHEN v.ok THEN (SELECT coalesce(jsonb_agg(jsonb_build_object('calendarId', n.calendar_id)
                                                          ORDER BY n.calendar_id COLLATE "C"), '[]'::jsonb)
                                  FROM net n WHERE NOT n.created AND n.calendar IS NULL) END
      FROM bounds b, valid v
$$;

-- prune_calendar_history: the current definition (edit here, then: npm run db:function -- prune_calendar_history).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.prune, run by
-- src/services/history/history-pruning.ts).
-- Guarantee: deletes up to p_batch of the oldest versions (their changes are on their rows since
-- 20261206160000) that are both beyond
-- the last p_keep_versions of their user and older than p_keep_days; returns how many. A user's versions
-- go oldest first, so what is kept is always a contiguous run up to the current version.
CREATE OR REPLACE FUNCTION "prune_calendar_history"(p_keep_versions integer, p_keep_days integer, p_batch integer)
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

DROP TABLE "calendar_changes";
