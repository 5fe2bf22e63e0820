-- A crew call whose sync kills its worker is quarantined (issue 29). A run that a worker claimed and
-- never finished (the process died; its lease lapsed with the run still 'running') is a lost run; the
-- next claim of the crew call closes it and counts it here. After SYNC_MAX_CRASHES lost runs in a row
-- the crew call is failed (sync_failed_at) and no worker claims it until a roster change or a manual
-- sync re-arms it, so one poison crew call cannot take down every instance in turn. Any run that
-- finishes, whatever its outcome, sets the count back to 0.
ALTER TABLE "crew_calls"
    ADD COLUMN "sync_lost_runs" INTEGER NOT NULL DEFAULT 0,
    ADD CONSTRAINT "crew_calls_sync_lost_runs_check" CHECK ("sync_lost_runs" >= 0);
