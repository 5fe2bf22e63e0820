-- restore_calendar_set: the current definition (edit here, then: npm run db:function -- restore_calendar_set).
-- Callers: src/services/calendars/calendar-service.ts (CalendarService.restore).
-- Guarantee: makes the set equal to version p_version's (calendar_set_at) as a new version with
-- restored_from, through replace_calendar_set, so atomic and serialized like any replace;
-- version_available is false (nothing written, version: the current one) when p_version cannot be rebuilt.
-- With p_idempotency, the key is taken first, as replace_calendar_set does.
CREATE OR REPLACE FUNCTION "restore_calendar_set"(p_user_id text, p_version integer, p_if_match integer[],
                                       p_actor text, p_request_id text, p_idempotency jsonb DEFAULT NULL)
RETURNS TABLE (version_available boolean, version integer, precondition_failed boolean, answer text,
               key_verdict jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_set jsonb;
    v_current integer;
    v_verdict jsonb;
BEGIN
    IF p_idempotency IS NOT NULL THEN
        v_verdict := take_idempotency_key(p_idempotency);
        IF v_verdict IS NOT NULL THEN
            RETURN QUERY SELECT true, 0, false, NULL::text, v_verdict;
            RETURN;
        END IF;
    END IF;
    PERFORM 1 FROM calendar_sets cs WHERE cs.user_id = p_user_id FOR UPDATE;
    SELECT s.calendars, s.current_version INTO v_set, v_current FROM calendar_set_at(p_user_id, p_version) s;
    IF v_set IS NULL THEN
        RETURN QUERY SELECT false, v_current, false, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY
    SELECT true, r.version, r.precondition_failed, r.answer, r.key_verdict
      FROM replace_calendar_set(
               p_user_id, p_if_match,
               -- Calendar objects: replace_calendar_set reads their CalendarListEntry fields, ignores the rest.
               v_set,
               p_actor, p_request_id, p_version, p_idempotency) r;
END
$$;
