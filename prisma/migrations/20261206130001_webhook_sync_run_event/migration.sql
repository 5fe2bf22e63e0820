-- The current definition of webhook_sync_run_event, copied from prisma/functions/ by npm run db:function.
-- CREATE OR REPLACE cannot change a function's arguments or result type: for that, add
-- DROP FUNCTION "<name>"(<old argument types>); above its definition.

-- webhook_sync_run_event: the current definition (edit here, then: npm run db:function -- webhook_sync_run_event).
-- Callers: the trigger on sync_runs when a run leaves `running` (SyncRunLog.finish, and
-- SyncRunLog.start closing an abandoned run).
-- Guarantee: one `crew-sync.finished` event per finished run, recorded in the statement that finishes
-- it, with the run's notes (roles not set in Flex and why).
CREATE OR REPLACE FUNCTION "webhook_sync_run_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_job_id text;
    v_department text;
BEGIN
    SELECT cc.job_id, cc.department INTO v_job_id, v_department FROM crew_calls cc WHERE cc.id = NEW.crew_call_id;
    PERFORM record_webhook_event('sync-run:' || NEW.id, 'crew-sync.finished', 'crew-sync:' || NEW.crew_call_id,
        jsonb_build_object('jobId', v_job_id, 'department', v_department, 'runId', NEW.id,
                           'trigger', NEW.trigger, 'status', NEW.status,
                           'error', NEW.errors -> 0 ->> 'message', 'notes', to_jsonb(NEW.notes)));
    RETURN NULL;
END
$$;
