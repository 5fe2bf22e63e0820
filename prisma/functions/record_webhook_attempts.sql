-- record_webhook_attempts: the current definition (edit here, then: npm run db:function -- record_webhook_attempts).
-- Callers: src/services/webhooks/webhook-delivery-queue.ts (WebhookDeliveryQueue.record), for the
-- attempts that ended on one instance since its last call.
-- Guarantee: each attempt's outcome is recorded on its delivery only while the attempt's lease holds
-- (lease_owner = owner: a lease that lapsed and was claimed again is not overwritten), in one statement
-- for all of them, and the lease is released: delivered (status succeeded, delivered_at now), due again
-- at next_attempt_at (pending), or failed for good (no next attempt). p_attempts is a JSON array of
-- {id, owner, delivered, status, error, nextAttemptAt}.
CREATE OR REPLACE FUNCTION "record_webhook_attempts"(p_attempts jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_deliveries d
       SET status = CASE WHEN a.delivered THEN 'succeeded'
                         WHEN a."nextAttemptAt" IS NULL THEN 'failed'
                         ELSE 'pending' END,
           last_status = a.status,
           last_error = a.error,
           delivered_at = CASE WHEN a.delivered THEN now() ELSE d.delivered_at END,
           next_attempt_at = coalesce(a."nextAttemptAt", d.next_attempt_at),
           lease_owner = NULL,
           lease_until = NULL
      FROM jsonb_to_recordset(p_attempts) AS a(id uuid, owner uuid, delivered boolean, status integer, error text,
                                               "nextAttemptAt" timestamptz)
     WHERE d.id = a.id AND d.lease_owner = a.owner;
END
$$;
