-- webhook_crew_call_failed_event: the current definition (edit here, then: npm run db:function -- webhook_crew_call_failed_event).
-- Callers: the trigger on crew_calls when sync_failed_at is set (SyncSchedule.afterRun, when autonomous
-- sync gives up after SYNC_MAX_ATTEMPTS).
-- Guarantee: one `crew-call.sync-failed` event each time a crew call gives up, with its attempts and
-- the last run's first error.
CREATE OR REPLACE FUNCTION "webhook_crew_call_failed_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_last_error text;
BEGIN
    SELECT r.errors -> 0 ->> 'message' INTO v_last_error FROM sync_runs r WHERE r.crew_call_id = NEW.id
     ORDER BY r.started_at DESC, r.id DESC LIMIT 1;
    PERFORM record_webhook_event('sync-failed:' || NEW.id || ':' || extract(epoch FROM NEW.sync_failed_at),
        'crew-call.sync-failed', 'crew-sync:' || NEW.id,
        jsonb_build_object('jobId', NEW.job_id, 'department', NEW.department, 'attempts', NEW.sync_attempts,
                           'lastError', v_last_error));
    RETURN NULL;
END
$$;
