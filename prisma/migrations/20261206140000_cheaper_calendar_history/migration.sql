-- Cheaper calendar history (issue 21): what a replace's history cost PostgreSQL beyond its rows.
-- - calendar_changes loses its foreign key to calendar_versions. It checked every change row (a query and
--   a row lock on the version row, per row) although replace_calendar_set writes a version and its changes
--   in one transaction, and it cascaded deletes that prune_calendar_history now makes itself, in the same
--   statement as the versions' (calendar sets are never deleted). calendar_set_at and
--   calendar_changes_since read only the changes after a kept version.
-- - calendar_versions loses its foreign key to calendar_sets: the replace writing a version has just
--   locked (or created) its user's calendar_sets row, and none is ever deleted.
-- - replace_calendar_set writes the version row once, last, with its final counts, and only when something
--   changed, instead of inserting it first, then updating its counts or deleting it.
-- - So the webhook trigger on calendar_versions need not wait for the commit to see the final row: a plain
--   AFTER INSERT trigger records the event from NEW. It (and the roster's) first checks that an endpoint
--   is subscribed, as record_webhook_event does, before building the event.
-- - before_row leaves out user_id and calendar_id (columns of the change row) and id (read by nobody):
--   over a quarter of its bytes. calendar_set_at puts the first two back; rows written before stay
--   readable as they are.

ALTER TABLE "calendar_changes" DROP CONSTRAINT "calendar_changes_version_fkey";
ALTER TABLE "calendar_versions" DROP CONSTRAINT "calendar_versions_user_id_fkey";

DROP TRIGGER "webhook_calendar_version_event" ON "calendar_versions";
CREATE TRIGGER "webhook_calendar_version_event" AFTER INSERT ON "calendar_versions"
    FOR EACH ROW EXECUTE FUNCTION "webhook_calendar_version_event"();

-- The current definitions of replace_calendar_set, calendar_set_at, webhook_calendar_version_event,
-- webhook_roster_version_event and prune_calendar_history, as in prisma/functions/.

-- replace_calendar_set: the current definition (edit here, then: npm run db:function -- replace_calendar_set).
-- Callers: src/services/calendars/calendar-service.ts (CalendarService.replace); restore_calendar_set.
-- Guarantee (G1, G2, G3): makes the user's set exactly p_calendars ([{calendar_id, summary, ...}], ids
-- unique) in one statement's transaction: locks the user's calendar_sets row (replaces of one user queue
-- here), checks If-Match (p_if_match; precondition_failed and nothing written when it fails), deletes what
-- left the set, upserts the rest with ON CONFLICT (equal rows untouched; primary-last, so a calendar losing
-- primary is demoted before its successor is promoted), bumps the version and records it with each row's
-- change in calendar_versions/calendar_changes (p_actor, p_request_id, p_restored_from) only when something
-- changed: a changed row's history keeps only its image before the change (to_jsonb of the row without
-- what the change row already holds or no reader needs: user_id, calendar_id, id; none for a created one),
-- as its image after is the next change's before or today's row. The changes are written
-- first and the version row last, once, with its final counts (no foreign key ties them: this function
-- writes both in one transaction and prune_calendar_history deletes both). Returns PUT
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

    -- Each row's change names the version it makes (v_version + 1); nothing written here when nothing
    -- changes, and the version row follows with the counts.
    WITH gone AS (
        DELETE FROM managed_calendars mc
         WHERE mc.user_id = p_user_id
           AND mc.calendar_id NOT IN (SELECT t.calendar_id FROM jsonb_to_recordset(p_calendars) AS t(calendar_id text))
        RETURNING mc
    )
    INSERT INTO calendar_changes (user_id, version, calendar_id, change, before_row)
    SELECT p_user_id, v_version + 1, (g.mc).calendar_id, 'deleted',
           to_jsonb(g.mc) - '{id,user_id,calendar_id}'::text[] FROM gone g;
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
               CASE WHEN u.inserted THEN 'created' ELSE 'updated' END,
               to_jsonb(p.mc) - '{id,user_id,calendar_id}'::text[]
          FROM upserted u LEFT JOIN previous p ON (p.mc).calendar_id = u.calendar_id
        RETURNING change
    )
    SELECT count(*) FILTER (WHERE l.change = 'created'), count(*) FILTER (WHERE l.change = 'updated')
      INTO v_created, v_updated FROM logged l;

    IF v_created + v_updated + v_deleted > 0 THEN
        WITH bumped AS (
            UPDATE calendar_sets cs SET version = cs.version + 1, updated_at = now()
             WHERE cs.user_id = p_user_id RETURNING cs.version
        )
        INSERT INTO calendar_versions AS cv (user_id, version, actor, request_id, created, updated, deleted,
                                             restored_from)
        SELECT p_user_id, b.version, p_actor, p_request_id, v_created, v_updated, v_deleted, p_restored_from
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
-- snapshot: today's rows, except each calendar changed since, which is the row its first change after
-- p_version found (its before_row with its user_id and calendar_id, which replace_calendar_set leaves
-- out of it since 20261206140000; none: it was created after). NULL calendars when p_version is older than the floor
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
        SELECT fa.calendar_id, calendar_json(jsonb_populate_record(NULL::managed_calendars,
                   fa.before_row || jsonb_build_object('user_id', p_user_id, 'calendar_id', fa.calendar_id)))::jsonb
          FROM first_after fa WHERE fa.change <> 'created'
    )
    SELECT b.current_version, b.floor_version,
           CASE WHEN p_version BETWEEN b.floor_version AND b.current_version THEN
               (SELECT coalesce(jsonb_agg(a.calendar ORDER BY a.calendar_id COLLATE "C"), '[]'::jsonb) FROM at_version a)
           END
      FROM bounds b
$$;

-- webhook_calendar_version_event: the current definition (edit here, then: npm run db:function -- webhook_calendar_version_event).
-- Callers: the trigger on calendar_versions (AFTER INSERT, for every version row: replace_calendar_set,
-- and restores through it).
-- Guarantee: one `calendar-set.changed` event per committed version, with its final counts, recorded in
-- the version's own transaction (a rolled-back replace records nothing). replace_calendar_set inserts a
-- version row only when something changed, and with its final counts, so the new row is the event.
CREATE OR REPLACE FUNCTION "webhook_calendar_version_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- As record_webhook_event would, first: with no subscriber, nothing to build (the common case).
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND 'calendar-set.changed' = ANY (e.events)) THEN
        RETURN NULL;
    END IF;
    PERFORM record_webhook_event('calendar-set:' || NEW.user_id || ':' || NEW.version, 'calendar-set.changed',
        'calendar-set:' || NEW.user_id,
        jsonb_build_object('userId', NEW.user_id, 'version', NEW.version, 'created', NEW.created,
                           'updated', NEW.updated, 'deleted', NEW.deleted, 'restoredFrom', NEW.restored_from));
    RETURN NULL;
END
$$;

-- webhook_roster_version_event: the current definition (edit here, then: npm run db:function -- webhook_roster_version_event).
-- Callers: the deferred constraint trigger on roster_versions (fired at commit for every version row
-- mark_roster_changed inserts: roster replaces, single assignment upserts and removals, restores).
-- Guarantee: one `roster.changed` event per committed roster version; none when the crew call was
-- deleted in the same transaction.
CREATE OR REPLACE FUNCTION "webhook_roster_version_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_job_id text;
    v_department text;
BEGIN
    -- As record_webhook_event would, first: with no subscriber, nothing to look up (the common case).
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND 'roster.changed' = ANY (e.events)) THEN
        RETURN NULL;
    END IF;
    SELECT cc.job_id, cc.department INTO v_job_id, v_department
      FROM roster_versions rv JOIN crew_calls cc ON cc.id = rv.crew_call_id
     WHERE rv.crew_call_id = NEW.crew_call_id AND rv.version = NEW.version;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM record_webhook_event('roster:' || NEW.crew_call_id || ':' || NEW.version, 'roster.changed',
        'roster:' || NEW.crew_call_id,
        jsonb_build_object('jobId', v_job_id, 'department', v_department, 'version', NEW.version));
    RETURN NULL;
END
$$;

-- prune_calendar_history: the current definition (edit here, then: npm run db:function -- prune_calendar_history).
-- Callers: src/services/calendars/calendar-history-service.ts (CalendarHistoryService.prune, run by
-- src/services/history/history-pruning.ts).
-- Guarantee: deletes up to p_batch of the oldest versions (and their calendar_changes rows, in the same
-- statement: no foreign key cascades them since 20261206140000) that are both beyond
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
    ), removed_changes AS (
        DELETE FROM calendar_changes c USING doomed d
         WHERE c.user_id = d.user_id AND c.version = d.version
    )
    SELECT count(*)::integer FROM removed
$$;
