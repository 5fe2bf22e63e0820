-- webhook_calendar_version_event: the current definition (edit here, then: npm run db:function -- webhook_calendar_version_event).
-- Callers: the deferred constraint trigger on calendar_versions (fired at commit for every version row
-- inserted: replace_calendar_set, and restores through it).
-- Guarantee: one `calendar-set.changed` event per committed version, with its final counts; a replace
-- that changed nothing inserts and deletes its version row in the same transaction, so at commit the
-- row is gone and no event is recorded.
CREATE OR REPLACE FUNCTION "webhook_calendar_version_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v calendar_versions;
BEGIN
    SELECT * INTO v FROM calendar_versions cv WHERE cv.user_id = NEW.user_id AND cv.version = NEW.version;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM record_webhook_event('calendar-set:' || v.user_id || ':' || v.version, 'calendar-set.changed',
        'calendar-set:' || v.user_id,
        jsonb_build_object('userId', v.user_id, 'version', v.version, 'created', v.created,
                           'updated', v.updated, 'deleted', v.deleted, 'restoredFrom', v.restored_from));
    RETURN NULL;
END
$$;
