-- Signed webhooks (Standard Webhooks) from a transactional outbox. Every change that other services may
-- follow records an event in the change's own transaction, through triggers on the tables the change
-- already writes (calendar_versions, roster_versions, sync_runs, crew_calls), so no write path can skip
-- it and a rolled-back or refused change records nothing. Each event fans out to one delivery per
-- enabled endpoint subscribed to its type; delivery workers on every instance claim deliveries with
-- FOR UPDATE SKIP LOCKED (src/services/webhooks/). The functions' current definitions live in
-- prisma/functions/.

CREATE TABLE "webhook_endpoints" (
    "id"                    UUID NOT NULL DEFAULT gen_random_uuid(),
    "url"                   TEXT NOT NULL,
    "events"                TEXT[] NOT NULL,
    "enabled"               BOOLEAN NOT NULL DEFAULT true,
    "disabled_reason"       TEXT,
    "description"           TEXT,
    "secret"                TEXT NOT NULL,
    "previous_secret"       TEXT,
    "previous_secret_until" TIMESTAMPTZ(3),
    "created_at"            TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"            TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "webhook_endpoints_created_at_id_idx" ON "webhook_endpoints" ("created_at", "id");

-- The outbox: one row per change, whatever the number of endpoints. `key` names the change (a second
-- recording of it is a no-op); `seq` orders the events of one resource.
CREATE TABLE "webhook_events" (
    "id"          UUID NOT NULL DEFAULT gen_random_uuid(),
    "seq"         BIGSERIAL NOT NULL,
    "key"         TEXT NOT NULL,
    "type"        TEXT NOT NULL,
    "resource"    TEXT NOT NULL,
    "data"        JSONB NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "webhook_events_key_key" ON "webhook_events" ("key");

-- One event to one endpoint: its id is the `webhook-id` of every attempt.
CREATE TABLE "webhook_deliveries" (
    "id"              UUID NOT NULL DEFAULT gen_random_uuid(),
    "endpoint_id"     UUID NOT NULL,
    "event_id"        UUID NOT NULL,
    "event_seq"       BIGINT NOT NULL,
    "resource"        TEXT NOT NULL,
    "type"            TEXT NOT NULL,
    "status"          TEXT NOT NULL DEFAULT 'pending',
    "attempts"        INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_owner"     UUID,
    "lease_until"     TIMESTAMPTZ(3),
    "last_status"     INTEGER,
    "last_error"      TEXT,
    "delivered_at"    TIMESTAMPTZ(3),
    "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_deliveries_endpoint_id_fkey" FOREIGN KEY ("endpoint_id")
        REFERENCES "webhook_endpoints" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "webhook_deliveries_event_id_fkey" FOREIGN KEY ("event_id")
        REFERENCES "webhook_events" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "webhook_deliveries_status_check" CHECK ("status" IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT "webhook_deliveries_attempts_check" CHECK ("attempts" >= 0)
);
CREATE UNIQUE INDEX "webhook_deliveries_endpoint_id_event_id_key" ON "webhook_deliveries" ("endpoint_id", "event_id");
-- The claim (due deliveries per endpoint) and the list by status.
CREATE INDEX "webhook_deliveries_endpoint_id_status_next_attempt_at_idx"
    ON "webhook_deliveries" ("endpoint_id", "status", "next_attempt_at");
-- Version order: an earlier undelivered event of the same resource to the same endpoint.
CREATE INDEX "webhook_deliveries_endpoint_id_resource_event_seq_idx"
    ON "webhook_deliveries" ("endpoint_id", "resource", "event_seq");
CREATE INDEX "webhook_deliveries_event_id_idx" ON "webhook_deliveries" ("event_id");

CREATE FUNCTION "record_webhook_event"(p_key text, p_type text, p_resource text, p_data jsonb)
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

CREATE FUNCTION "webhook_calendar_version_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v calendar_versions;
BEGIN
    SELECT * INTO v FROM calendar_versions cv WHERE cv.user_id = NEW.user_id AND cv.version = NEW.version;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM record_webhook_event('calendar-set:' || v.user_id || ':' || v.version, 'calendar-set.changed',
        'calendar-set:' || v.user_id,
        jsonb_build_object('userId', v.user_id, 'version', v.version, 'created', v.created,
                           'updated', v.updated, 'deleted', v.deleted, 'restoredFrom', v.restored_from));
    RETURN NULL;
END
$$;

CREATE FUNCTION "webhook_roster_version_event"()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_job_id text;
    v_department text;
BEGIN
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

CREATE FUNCTION "webhook_sync_run_event"()
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
                           'error', NEW.errors -> 0 ->> 'message'));
    RETURN NULL;
END
$$;

CREATE FUNCTION "webhook_crew_call_failed_event"()
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

-- Deferred to commit: replace_calendar_set inserts a version row before it knows whether anything
-- changed and deletes it when nothing did; at commit the row holds the final counts, or is gone.
CREATE CONSTRAINT TRIGGER "webhook_calendar_version_event" AFTER INSERT ON "calendar_versions"
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "webhook_calendar_version_event"();
CREATE CONSTRAINT TRIGGER "webhook_roster_version_event" AFTER INSERT ON "roster_versions"
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "webhook_roster_version_event"();
CREATE TRIGGER "webhook_sync_run_event" AFTER UPDATE OF "status" ON "sync_runs"
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION "webhook_sync_run_event"();
CREATE TRIGGER "webhook_crew_call_failed_event" AFTER UPDATE OF "sync_failed_at" ON "crew_calls"
    FOR EACH ROW WHEN (OLD.sync_failed_at IS NULL AND NEW.sync_failed_at IS NOT NULL)
    EXECUTE FUNCTION "webhook_crew_call_failed_event"();
