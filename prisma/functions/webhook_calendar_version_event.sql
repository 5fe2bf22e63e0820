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
