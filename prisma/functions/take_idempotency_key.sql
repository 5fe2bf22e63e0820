-- take_idempotency_key: the current definition (edit here, then: npm run db:function -- take_idempotency_key).
-- Callers: replace_calendar_set, restore_calendar_set, replace_roster, restore_roster (first, inside their
-- own statement); src/services/idempotency/key-store.ts (a sync's take; an interactive write's first statement).
-- Guarantee: one request at a time runs under a key, and a key answers only the request it was first used
-- for (the protocol: docs/api.md, Idempotency). p_request is {tenant, scope, key, fingerprint, ifMatch, owner,
-- leaseMs, ttlSeconds}. NULL: this transaction holds the key (in_progress, owned by owner; taking it again
-- is a no-op). Otherwise what the key holds: {"verdict":"replay", status, headers, body (base64)},
-- {"verdict":"reused", ifMatch (or inFlight: its first request has not committed)} or {"verdict":"running", leaseLeftMs}. A holder that has not committed holds
-- advisory locks on the key and on the key with its fingerprint, so a concurrent retry answers at once
-- (running, or reused for another request) instead of waiting behind it.
CREATE OR REPLACE FUNCTION "take_idempotency_key"(p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant text := p_request ->> 'tenant';
    v_scope text := p_request ->> 'scope';
    v_key text := p_request ->> 'key';
    v_fingerprint text := p_request ->> 'fingerprint';
    v_owner uuid := (p_request ->> 'owner')::uuid;
    v_lock text := 'rostersync.idempotency ' || v_tenant || ' ' || v_scope || ' ' || v_key;
    v_row idempotency_keys;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(v_lock || ' ' || v_fingerprint, 0)) THEN
        RETURN jsonb_build_object('verdict', 'running', 'leaseLeftMs', 1000);
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtextextended(v_lock, 0)) THEN
        RETURN jsonb_build_object('verdict', 'reused', 'inFlight', true);
    END IF;
    INSERT INTO idempotency_keys AS k (tenant, scope, key, fingerprint, if_match, owner, locked_until, expires_at)
    VALUES (v_tenant, v_scope, v_key, v_fingerprint, p_request ->> 'ifMatch', v_owner,
            now() + (p_request ->> 'leaseMs')::float8 * interval '1 millisecond',
            now() + (p_request ->> 'ttlSeconds')::float8 * interval '1 second')
    ON CONFLICT (tenant, scope, key) DO UPDATE SET
           fingerprint = EXCLUDED.fingerprint, if_match = EXCLUDED.if_match, state = 'in_progress',
           owner = EXCLUDED.owner, locked_until = EXCLUDED.locked_until, response_status = NULL,
           response_headers = NULL, response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
     WHERE (k.expires_at <= now() AND (k.state = 'completed' OR k.locked_until <= now()))
        OR (k.state = 'in_progress' AND k.locked_until <= now() AND k.fingerprint = EXCLUDED.fingerprint);
    IF FOUND THEN
        RETURN NULL;
    END IF;
    -- Locked by the ON CONFLICT above: it is still there.
    SELECT * INTO v_row FROM idempotency_keys k
     WHERE k.tenant = v_tenant AND k.scope = v_scope AND k.key = v_key;
    IF v_row.state = 'in_progress' AND v_row.owner = v_owner THEN
        RETURN NULL;
    END IF;
    IF v_row.fingerprint <> v_fingerprint THEN
        RETURN jsonb_build_object('verdict', 'reused', 'ifMatch', v_row.if_match);
    END IF;
    IF v_row.state = 'completed' THEN
        RETURN jsonb_build_object('verdict', 'replay', 'status', v_row.response_status,
                                  'headers', v_row.response_headers, 'body', encode(v_row.response_body, 'base64'));
    END IF;
    RETURN jsonb_build_object('verdict', 'running',
                              'leaseLeftMs', greatest(1, extract(epoch FROM v_row.locked_until - now()) * 1000));
END
$$;
