-- The webhook claim in time independent of the outbox's backlog (issue 19). With thousands of pending
-- deliveries to one endpoint, each claim hashed every pending row twice (about 8 ms at 5,000, growing
-- with the backlog), so a backlog slowed its own delivery. These partial indexes let the claim
-- (src/services/webhooks/webhook-delivery-queue.ts) walk one endpoint's pending deliveries in event
-- order and stop at the first it may take, and count the ones in flight without reading the rest:
-- about 0.1-0.3 ms at the same backlog. Prisma's schema cannot express partial indexes; schema.prisma
-- names them in a comment on WebhookDelivery.
CREATE INDEX "webhook_deliveries_pending_endpoint_id_event_seq_idx"
    ON "webhook_deliveries" ("endpoint_id", "event_seq") WHERE "status" = 'pending';
CREATE INDEX "webhook_deliveries_pending_endpoint_id_lease_until_idx"
    ON "webhook_deliveries" ("endpoint_id", "lease_until") WHERE "status" = 'pending';
