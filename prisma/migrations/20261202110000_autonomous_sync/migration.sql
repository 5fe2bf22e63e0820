-- Crew calls converge without anyone asking. Whether a crew call needs a reconcile is derived from
-- these columns (level-triggered): a roster change sets sync_due_at in its own transaction, a run sets
-- the next one from its outcome, and workers on every instance take due crew calls under the sync
-- lease. A lost wake-up or a crashed worker cannot lose the need: it stays in the row.
ALTER TABLE "crew_calls"
    -- When the next reconcile is due (a change after SYNC_DEBOUNCE_MS, a retry after its backoff);
    -- NULL: none scheduled (drift repair still comes every SYNC_RESYNC_INTERVAL_MS).
    ADD COLUMN "sync_due_at" TIMESTAMPTZ(3),
    -- The roster version the last successful run reconciled; NULL: never.
    ADD COLUMN "synced_version" INTEGER,
    -- Consecutive runs that did not succeed (failed, partial, deferred).
    ADD COLUMN "sync_attempts" INTEGER NOT NULL DEFAULT 0,
    -- Set after SYNC_MAX_ATTEMPTS consecutive unsuccessful runs: no more automatic runs until a roster
    -- change or a manual sync re-arms the crew call.
    ADD COLUMN "sync_failed_at" TIMESTAMPTZ(3),
    -- When the last successful run ended (drift repair counts from here).
    ADD COLUMN "last_synced_at" TIMESTAMPTZ(3),
    -- Since when a change has waited to reach Flex; NULL when none waits.
    ADD COLUMN "sync_pending_since" TIMESTAMPTZ(3),
    ADD CONSTRAINT "crew_calls_sync_attempts_check" CHECK ("sync_attempts" >= 0);

-- Workers look for due crew calls by this.
CREATE INDEX "crew_calls_sync_due_at_idx" ON "crew_calls" ("sync_due_at");

-- Nobody knows whether the crew calls that exist already are in sync: each is due once.
UPDATE "crew_calls" SET "sync_due_at" = CURRENT_TIMESTAMP, "sync_pending_since" = CURRENT_TIMESTAMP;

-- A run's trigger says why it ran: a client asked (manual), a roster change, a retry after an
-- unsuccessful run, or drift repair (resync).
UPDATE "sync_runs" SET "trigger" = 'manual' WHERE "trigger" NOT IN ('manual', 'change', 'retry', 'resync');
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_trigger_check"
    CHECK ("trigger" IN ('manual', 'change', 'retry', 'resync'));
CREATE INDEX "sync_runs_trigger_started_at_idx" ON "sync_runs" ("trigger", "started_at" DESC, "id" DESC);
