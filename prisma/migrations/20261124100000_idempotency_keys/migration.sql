-- Idempotency keys: the outcome of a POST or PUT sent with an Idempotency-Key header, so a retry with the
-- same key and body gets the same answer without the request running twice.

CREATE TABLE "idempotency_keys" (
    -- Who sent it (service:<name> or user:<sub>), the method and the path; sha256:<hex> of that when long.
    "scope"            TEXT NOT NULL,
    -- The client's key: 1-255 visible ASCII characters.
    "key"              TEXT NOT NULL,
    -- sha256 (hex) of the request's query string and body bytes: the same key with another request is a 422.
    "fingerprint"      TEXT NOT NULL,
    "state"            TEXT NOT NULL DEFAULT 'in_progress',
    -- The request holding the key (a random token per claim): only it may complete or release the key.
    "owner"            UUID NOT NULL,
    -- While in progress: renewed by the running request; once past, a crashed request's key is free again.
    "locked_until"     TIMESTAMPTZ(3),
    -- Once completed: the response exactly as it was sent.
    "response_status"  INTEGER,
    "response_headers" JSONB,
    "response_body"    BYTEA,
    "created_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at"       TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("scope", "key"),
    CONSTRAINT "idempotency_keys_key_check" CHECK ("key" ~ '^[\x21-\x7e]{1,255}$'),
    CONSTRAINT "idempotency_keys_state_check" CHECK (
        ("state" = 'in_progress' AND "locked_until" IS NOT NULL AND "response_status" IS NULL)
        OR ("state" = 'completed' AND "response_status" BETWEEN 100 AND 599 AND "response_headers" IS NOT NULL)
    )
);

-- The purge deletes expired keys in bounded batches.
CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys" ("expires_at");
