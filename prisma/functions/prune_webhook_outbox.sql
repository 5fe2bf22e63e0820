-- prune_webhook_outbox: the current definition (edit here, then: npm run db:function -- prune_webhook_outbox).
-- Callers: src/services/webhooks/webhook-outbox.ts (WebhookOutbox.prune, run by
-- src/services/history-pruning.ts beside the history prunes).
-- Guarantee: deletes up to p_batch deliveries that succeeded more than p_keep_days ago, then up to
-- p_batch events older than that which have no delivery left; returns how many rows went. A pending or
-- failed delivery is never deleted, nor its event (a delivery retried by hand while this runs is
-- pending again when the delete re-checks it, and stays).
CREATE OR REPLACE FUNCTION "prune_webhook_outbox"(p_keep_days integer, p_batch integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_deliveries integer;
    v_events integer;
BEGIN
    DELETE FROM webhook_deliveries d
     WHERE d.id IN (SELECT s.id FROM webhook_deliveries s
                     WHERE s.status = 'succeeded' AND s.delivered_at < now() - p_keep_days * interval '1 day'
                     ORDER BY s.delivered_at
                     LIMIT p_batch)
       AND d.status = 'succeeded';
    GET DIAGNOSTICS v_deliveries = ROW_COUNT;
    -- A separate statement, so it sees the deliveries just deleted as gone. No delivery is ever added to
    -- an event after the transaction that recorded it, so an event with none left stays without.
    DELETE FROM webhook_events ev
     WHERE ev.id IN (SELECT e.id FROM webhook_events e
                      WHERE e.occurred_at < now() - p_keep_days * interval '1 day'
                        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
                      ORDER BY e.occurred_at
                      LIMIT p_batch)
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id);
    GET DIAGNOSTICS v_events = ROW_COUNT;
    RETURN v_deliveries + v_events;
END
$$;
