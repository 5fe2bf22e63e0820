-- An add whose outcome is unknown (a timeout, a dropped connection, a 5xx other than 503) may still
-- land in Flex after the sync that sent it has listed the element and seen no line. Until it can no
-- longer land, no sync adds a line for that resource on that element again (src/services/sync/
-- flex-add-doubts.ts). Keyed by element and resource, not by roster row: a technician taken off the
-- roster and put back meanwhile is the same resource in Flex.
CREATE TABLE "flex_add_doubts" (
    "crew_call_id"     UUID NOT NULL,
    "flex_resource_id" TEXT NOT NULL,
    "until"            TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "flex_add_doubts_pkey" PRIMARY KEY ("crew_call_id", "flex_resource_id"),
    CONSTRAINT "flex_add_doubts_crew_call_id_fkey" FOREIGN KEY ("crew_call_id")
        REFERENCES "crew_calls" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
