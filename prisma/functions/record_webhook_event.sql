-- record_webhook_event: the current definition (edit here, then: npm run db:function -- record_webhook_event).
-- Callers: the webhook trigger functions (webhook_calendar_version_event,
-- webhook_roster_version_event, webhook_sync_run_event, webhook_crew_call_failed_event), in the
-- transaction of the change they describe.
-- Guarantee: an event is recorded, and fanned out to one delivery per enabled endpoint subscribed to
-- its type, exactly when the change commits (a rolled-back or refused change records nothing); p_key
-- makes a second recording of the same change a no-op. With no subscribed endpoint nothing is written
-- at all.
CREATE OR REPLACE FUNCTION "record_webhook_event"(p_key text, p_type text, p_resource text, p_data jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND p_type = ANY (e.events)) THEN
        RETURN;
    END IF;
    WITH event AS (
        INSERT INTO webhook_events (key, type, resource, data) VALUES (p_key, p_type, p_resource, p_data)
        ON CONFLICT (key) DO NOTHING
        RETURNING id, seq
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_seq, resource, type)
    SELECT e.id, event.id, event.seq, p_resource, p_type
      FROM event, webhook_endpoints e
     WHERE e.enabled AND p_type = ANY (e.events);
END
$$;
