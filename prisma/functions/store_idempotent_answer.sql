-- store_idempotent_answer: the current definition (edit here, then: npm run db:function -- store_idempotent_answer).
-- Callers: replace_calendar_set, replace_roster (last, inside their own statement).
-- Guarantee: the answer of the write whose transaction holds the key (p_request, as take_idempotency_key's)
-- is kept with it, in the same transaction: both commit or neither. A key no longer held by p_request's
-- owner (a retry took it over after its lease lapsed) raises SQLSTATE RSK01, which rolls the write back.
CREATE OR REPLACE FUNCTION "store_idempotent_answer"(p_request jsonb, p_status integer, p_headers jsonb,
                                          p_body text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idempotency_keys k
       SET state = 'completed', locked_until = NULL, response_status = p_status, response_headers = p_headers,
           response_body = convert_to(p_body, 'UTF8')
     WHERE k.tenant = p_request ->> 'tenant' AND k.scope = p_request ->> 'scope' AND k.key = p_request ->> 'key'
       AND k.owner = (p_request ->> 'owner')::uuid AND k.state = 'in_progress';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the Idempotency-Key of this request was taken over by a retry' USING ERRCODE = 'RSK01';
    END IF;
END
$$;
