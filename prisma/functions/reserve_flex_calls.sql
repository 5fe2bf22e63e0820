-- reserve_flex_calls: the current definition (edit here, then: npm run db:function -- reserve_flex_calls).
-- Callers: src/services/sync/flex-call-budget.ts (FlexCallBudget.reserve).
-- Guarantee: takes p_calls from the Flex call budget only when both sliding windows (the last hour, the
-- last day) have room, as a new reservation or added to p_reservation; otherwise takes nothing and says
-- when enough calls will have left the windows (retry_at; NULL when p_calls exceeds a window's limit).
-- One advisory lock serializes check and take across instances, and the database clock is the only clock.
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
