-- Flex limits API calls per tenant (Enterprise: 2,000 an hour, 10,000 a day). Every instance draws
-- from one budget kept here: a sync reserves the calls its plan needs before it starts, and settles
-- the reservation with the calls it really made when it ends.
CREATE TABLE "flex_call_reservations" (
    "id"          BIGSERIAL NOT NULL,
    "calls"       INTEGER NOT NULL,
    "reserved_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "flex_call_reservations_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "flex_call_reservations_calls_check" CHECK ("calls" >= 0)
);
CREATE INDEX "flex_call_reservations_reserved_at_idx" ON "flex_call_reservations" ("reserved_at");

-- Takes p_calls from the budget when both sliding windows (the last hour, the last day) have room for
-- them, as a new reservation or added to p_reservation; otherwise takes nothing and says when enough
-- calls will have left the windows (retry_at; NULL when p_calls exceeds a window's whole limit).
-- In the database because the check and the take must not interleave across instances: one advisory
-- lock serializes them, and the database clock is the only clock.
CREATE OR REPLACE FUNCTION "reserve_flex_calls"(
    p_calls integer, p_per_hour integer, p_per_day integer, p_reservation bigint DEFAULT NULL)
RETURNS TABLE (reservation_id bigint, retry_at timestamptz, used_last_hour integer, used_last_day integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_hour integer;
    v_day integer;
    v_hour_free timestamptz;
    v_day_free timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('rostersync.flex_call_budget'));
    DELETE FROM flex_call_reservations WHERE reserved_at <= v_now - interval '1 day';
    SELECT coalesce(sum(calls) FILTER (WHERE reserved_at > v_now - interval '1 hour'), 0),
           coalesce(sum(calls), 0)
      INTO v_hour, v_day
      FROM flex_call_reservations;

    IF v_hour + p_calls <= p_per_hour AND v_day + p_calls <= p_per_day THEN
        IF p_reservation IS NOT NULL THEN
            -- Its calls move to now: they stay in the windows a little longer than they need to.
            UPDATE flex_call_reservations SET calls = calls + p_calls, reserved_at = v_now
             WHERE id = p_reservation
            RETURNING id INTO reservation_id;
        END IF;
        IF reservation_id IS NULL THEN
            INSERT INTO flex_call_reservations (calls, reserved_at) VALUES (p_calls, v_now)
            RETURNING id INTO reservation_id;
        END IF;
        used_last_hour := v_hour + p_calls;
        used_last_day := v_day + p_calls;
        RETURN NEXT;
        RETURN;
    END IF;

    -- The earliest moment each window has room: when enough of its oldest calls have left it.
    v_hour_free := CASE WHEN v_hour + p_calls <= p_per_hour THEN v_now ELSE (
        SELECT min(w.reserved_at) + interval '1 hour' FROM (
            SELECT r.reserved_at, sum(r.calls) OVER (ORDER BY r.reserved_at, r.id) AS leaving
              FROM flex_call_reservations r WHERE r.reserved_at > v_now - interval '1 hour') w
         WHERE v_hour - w.leaving + p_calls <= p_per_hour) END;
    v_day_free := CASE WHEN v_day + p_calls <= p_per_day THEN v_now ELSE (
        SELECT min(w.reserved_at) + interval '1 day' FROM (
            SELECT r.reserved_at, sum(r.calls) OVER (ORDER BY r.reserved_at, r.id) AS leaving
              FROM flex_call_reservations r) w
         WHERE v_day - w.leaving + p_calls <= p_per_day) END;
    reservation_id := NULL;
    retry_at := CASE WHEN v_hour_free IS NULL OR v_day_free IS NULL THEN NULL
                     ELSE greatest(v_hour_free, v_day_free) END;
    used_last_hour := v_hour;
    used_last_day := v_day;
    RETURN NEXT;
END
$$;

-- A run that the budget (or Flex's own 429) put off is `deferred`, with the moment to try again.
ALTER TABLE "sync_runs" DROP CONSTRAINT "sync_runs_status_check";
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_status_check"
    CHECK ("status" IN ('running', 'succeeded', 'partial', 'failed', 'deferred'));
ALTER TABLE "sync_runs" ADD COLUMN "retry_at" TIMESTAMPTZ(3);
-- HTTP attempts the run made to Flex, retries included.
ALTER TABLE "sync_runs" ADD COLUMN "flex_calls" INTEGER NOT NULL DEFAULT 0;
-- What the run could not verify and how it went on (e.g. roles compared with the role last set).
ALTER TABLE "sync_runs" ADD COLUMN "notes" TEXT[] NOT NULL DEFAULT '{}';
