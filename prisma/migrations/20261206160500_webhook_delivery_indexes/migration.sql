-- Fewer, better indexes on webhook_deliveries (issue 19). Each delivery's row is written three times
-- (made, claimed, recorded), and every write of it adds an entry to every index whose columns it
-- touches (none of these writes can be HOT: status and lease_until are indexed), so an index serves a
-- reader or it goes:
-- - (endpoint_id, event_id) unique and (event_id) become one unique index on (event_id, endpoint_id):
--   the same rule (one delivery per event and endpoint), and the lookup by event that pruning makes
--   (prune_webhook_outbox: an event with no delivery left) and the foreign key's cascade need;
-- - (endpoint_id, status, next_attempt_at) served no reader since the claim orders endpoints by their
--   oldest pending event (claim_webhook_deliveries); the list of an endpoint's deliveries by status
--   (GET /v1/webhook-endpoints/{id}/deliveries?status=, newest event first) read it and then sorted every
--   delivery of that status: (endpoint_id, status, event_seq) reads a page in order.
DROP INDEX "webhook_deliveries_endpoint_id_event_id_key";
DROP INDEX "webhook_deliveries_event_id_idx";
CREATE UNIQUE INDEX "webhook_deliveries_event_id_endpoint_id_key" ON "webhook_deliveries" ("event_id", "endpoint_id");
DROP INDEX "webhook_deliveries_endpoint_id_status_next_attempt_at_idx";
CREATE INDEX "webhook_deliveries_endpoint_id_status_event_seq_idx"
    ON "webhook_deliveries" ("endpoint_id", "status", "event_seq");
