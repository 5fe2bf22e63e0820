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
