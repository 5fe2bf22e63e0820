-- The webhook claim at a cost independent of the outbox's history (issue 19). Measured on a queue of
-- 1,000 pending and 5,000 delivered events over 200 calendar sets: the claim's check "no earlier event of
-- the same resource still waiting" walked every delivery of that resource ever made (the index held the
-- delivered ones too, filtered out row by row), and planning the statement cost more than running it
-- (1.2 ms, at every claim). The check now walks a partial index of pending deliveries only, and the claim
-- is a plpgsql function (claim_webhook_deliveries), whose plan each connection makes once. The attempts'
-- outcomes are written many in one statement (record_webhook_attempts). Prisma's
-- schema cannot express partial indexes; schema.prisma names this one in a comment on WebhookDelivery.
DROP INDEX "webhook_deliveries_endpoint_id_resource_event_seq_idx";
CREATE INDEX "webhook_deliveries_pending_endpoint_id_resource_event_seq_idx"
    ON "webhook_deliveries" ("endpoint_id", "resource", "event_seq") WHERE "status" = 'pending';

-- The current definition of claim_webhook_deliveries, record_webhook_attempts, copied from prisma/functions/ by npm run db:function.
-- CREATE OR REPLACE cannot change a function's arguments or result type: for that, add
-- DROP FUNCTION "<name>"(<old argument types>); above its definition.

-- claim_webhook_deliveries: the current definition (edit here, then: npm run db:function -- claim_webhook_deliveries).
-- Callers: src/services/webhooks/webhook-delivery-queue.ts (WebhookDeliveryQueue.claim), by the delivery
-- workers of every instance.
-- Guarantee: takes at most p_max claimable deliveries under one new lease (p_owner, p_lease_ms) and
-- counts their attempts, returning each with its endpoint and event. Claimable: pending, due, not in
-- flight, and no earlier event of the same resource to the same endpoint still waiting for its first
-- attempt or in flight (the events of one resource go out in version order as far as retries allow).
-- Each endpoint gives at most its room: p_per_endpoint less its deliveries in flight on every instance;
-- its row is locked (NO KEY UPDATE: writes that fan events out to it are not blocked) while that is
-- counted, so the bound holds over every instance, and another claim skips it (SKIP LOCKED, as the
-- deliveries): workers never wait for each other. A plpgsql function so that its plan is made once per
-- connection, not at every claim (planning cost more than running it).
CREATE OR REPLACE FUNCTION "claim_webhook_deliveries"(p_max integer, p_per_endpoint integer, p_lease_ms integer,
                                                      p_owner uuid)
RETURNS TABLE (id uuid, attempts integer, endpoint_id uuid, url text, secret text, previous_secret text,
               previous_secret_until timestamptz, type text, occurred_at timestamptz, data jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH endpoint AS (
        SELECT e.id, r.room
          FROM webhook_endpoints e
               CROSS JOIN LATERAL (SELECT p_per_endpoint - count(*)::int AS room FROM webhook_deliveries f
                                    WHERE f.endpoint_id = e.id AND f.status = 'pending'
                                      AND f.lease_until > now()) r
         WHERE e.enabled
           -- An endpoint without room is not searched (CASE: in this order).
           AND CASE WHEN r.room <= 0 THEN false ELSE
               -- ORDER BY ... OFFSET 0 keeps this a subplan per endpoint that walks its pending deliveries
               -- in event order (a partial index) and stops at the first claimable; pulled up into a join,
               -- PostgreSQL hashed every pending row instead, in time growing with the backlog (migration
               -- 20261206150000_webhook_claim_indexes).
               EXISTS (SELECT 1 FROM webhook_deliveries d
                        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                          AND (d.lease_until IS NULL OR d.lease_until < now())
                          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                                           WHERE p.endpoint_id = d.endpoint_id AND p.resource = d.resource
                                             AND p.event_seq < d.event_seq AND p.status = 'pending'
                                             AND (p.attempts = 0 OR p.lease_until > now()))
                        ORDER BY d.event_seq OFFSET 0) END
         -- The endpoint whose oldest pending event is oldest first (the first entry of a partial index).
         ORDER BY (SELECT min(d.event_seq) FROM webhook_deliveries d
                    WHERE d.endpoint_id = e.id AND d.status = 'pending')
         LIMIT p_max FOR NO KEY UPDATE OF e SKIP LOCKED
    ), picked AS (
        SELECT c.id FROM endpoint e CROSS JOIN LATERAL (
            SELECT d.id FROM webhook_deliveries d
             WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
               AND (d.lease_until IS NULL OR d.lease_until < now())
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                                WHERE p.endpoint_id = d.endpoint_id AND p.resource = d.resource
                                  AND p.event_seq < d.event_seq AND p.status = 'pending'
                                  AND (p.attempts = 0 OR p.lease_until > now()))
             ORDER BY d.event_seq LIMIT e.room FOR UPDATE OF d SKIP LOCKED
        ) c
        LIMIT p_max
    )
    UPDATE webhook_deliveries d
       SET lease_owner = p_owner, lease_until = now() + p_lease_ms * interval '1 millisecond',
           attempts = d.attempts + 1
      FROM picked, webhook_events ev, webhook_endpoints ep
     WHERE d.id = picked.id AND ev.id = d.event_id AND ep.id = d.endpoint_id
    RETURNING d.id, d.attempts, ep.id, ep.url, ep.secret, ep.previous_secret, ep.previous_secret_until::timestamptz,
              ev.type, ev.occurred_at::timestamptz, ev.data;
END
$$;

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
