-- Which webhook deliveries a worker may claim, said once (issue 19): claim_webhook_deliveries stated the
-- condition twice, in its endpoints' check and in its per-endpoint pick. A view is expanded in place by
-- PostgreSQL, so both statements plan as they did with the condition written out (the check still stops
-- at an endpoint's first claimable delivery, walking the partial index of pending ones in event order).
-- Claimable: pending, due, not in flight, and no earlier event of the same resource to the same endpoint
-- still waiting for its first attempt or in flight (events of one resource go out in version order as far
-- as retries allow). Only the columns the claim reads, so the view does not pin the table's other columns.
CREATE VIEW "claimable_webhook_deliveries" AS
SELECT d."id", d."endpoint_id", d."event_seq"
  FROM "webhook_deliveries" d
 WHERE d."status" = 'pending' AND d."next_attempt_at" <= now()
   AND (d."lease_until" IS NULL OR d."lease_until" < now())
   AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p
                    WHERE p."endpoint_id" = d."endpoint_id" AND p."resource" = d."resource"
                      AND p."event_seq" < d."event_seq" AND p."status" = 'pending'
                      AND (p."attempts" = 0 OR p."lease_until" > now()));

-- The current definition of claim_webhook_deliveries, copied from prisma/functions/ by npm run db:function.
-- CREATE OR REPLACE cannot change a function's arguments or result type: for that, add
-- DROP FUNCTION "<name>"(<old argument types>); above its definition.

-- claim_webhook_deliveries: the current definition (edit here, then: npm run db:function -- claim_webhook_deliveries).
-- Callers: src/services/webhooks/webhook-delivery-queue.ts (WebhookDeliveryQueue.claim), by the delivery
-- workers of every instance.
-- Guarantee: takes at most p_max claimable deliveries under one new lease (p_owner, p_lease_ms) and
-- counts their attempts, returning each with its endpoint and event. Claimable is the view
-- claimable_webhook_deliveries (migration 20261206184500_claimable_webhook_deliveries), the condition's
-- one home: pending, due, not in flight, and no earlier event of the same resource to the same endpoint
-- still waiting for its first attempt or in flight (the events of one resource go out in version order as
-- far as retries allow). PostgreSQL expands the view in place: the plans are those of the condition
-- written out.
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
               EXISTS (SELECT 1 FROM claimable_webhook_deliveries d WHERE d.endpoint_id = e.id
                        ORDER BY d.event_seq OFFSET 0) END
         -- The endpoint whose oldest pending event is oldest first (the first entry of a partial index).
         ORDER BY (SELECT min(d.event_seq) FROM webhook_deliveries d
                    WHERE d.endpoint_id = e.id AND d.status = 'pending')
         LIMIT p_max FOR NO KEY UPDATE OF e SKIP LOCKED
    ), picked AS (
        SELECT c.id FROM endpoint e CROSS JOIN LATERAL (
            -- FOR UPDATE of the view locks the webhook_deliveries rows it returns (not those it only checks).
            SELECT d.id FROM claimable_webhook_deliveries d WHERE d.endpoint_id = e.id
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
