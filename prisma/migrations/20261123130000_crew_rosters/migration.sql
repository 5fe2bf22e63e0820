-- Crew rosters: technicians, crew calls (one job's department), their assignments, and the record of
-- every sync with Flex.

CREATE TABLE "technicians" (
    "id"               TEXT NOT NULL,
    "name"             TEXT NOT NULL,
    "flex_resource_id" TEXT NOT NULL,
    "created_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "technicians_pkey" PRIMARY KEY ("id")
);
-- Flex lines are matched to technicians by resource id: one technician per Flex resource.
CREATE UNIQUE INDEX "technicians_flex_resource_id_key" ON "technicians" ("flex_resource_id");

CREATE TABLE "crew_calls" (
    "id"                UUID NOT NULL DEFAULT gen_random_uuid(),
    "job_id"            TEXT NOT NULL,
    "department"        TEXT NOT NULL,
    "flex_element_id"   TEXT NOT NULL,
    -- The roster's version (ETag); the row's lock serializes roster writes.
    "version"           INTEGER NOT NULL DEFAULT 0,
    -- The sync lease: at most one sync per crew call across all instances; a crashed holder's lease
    -- simply expires.
    "sync_lease_owner"  TEXT,
    "sync_lease_until"  TIMESTAMPTZ(3),
    "created_at"        TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"        TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "crew_calls_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "crew_calls_department_check" CHECK ("department" IN ('sound', 'lights', 'video')),
    CONSTRAINT "crew_calls_version_check" CHECK ("version" >= 0)
);
CREATE UNIQUE INDEX "crew_calls_job_id_department_key" ON "crew_calls" ("job_id", "department");
-- An element serves one crew call: two crew calls on one element would remove each other's crew.
CREATE UNIQUE INDEX "crew_calls_flex_element_id_key" ON "crew_calls" ("flex_element_id");

CREATE TABLE "crew_assignments" (
    "id"                    UUID NOT NULL DEFAULT gen_random_uuid(),
    "crew_call_id"          UUID NOT NULL,
    "technician_id"         TEXT NOT NULL,
    "role"                  TEXT,
    -- Null until a sync records the technician's crew line in Flex.
    "flex_line_item_id"     TEXT,
    -- The business role id last set on that line in Flex.
    "flex_business_role_id" TEXT,
    "synced_at"             TIMESTAMPTZ(3),
    "created_at"            TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"            TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "crew_assignments_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "crew_assignments_crew_call_id_fkey" FOREIGN KEY ("crew_call_id")
        REFERENCES "crew_calls" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "crew_assignments_technician_id_fkey" FOREIGN KEY ("technician_id")
        REFERENCES "technicians" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "crew_assignments_role_check" CHECK ("role" ~ '^[A-Z0-9]+(-[A-Z0-9]+)*-[RET]$')
);
-- G3: one row per (crew call, technician); a Flex line belongs to at most one row.
CREATE UNIQUE INDEX "crew_assignments_crew_call_id_technician_id_key"
    ON "crew_assignments" ("crew_call_id", "technician_id");
CREATE UNIQUE INDEX "crew_assignments_flex_line_item_id_key" ON "crew_assignments" ("flex_line_item_id");
CREATE INDEX "crew_assignments_technician_id_idx" ON "crew_assignments" ("technician_id");

CREATE TABLE "sync_runs" (
    "id"           UUID NOT NULL DEFAULT gen_random_uuid(),
    "crew_call_id" UUID NOT NULL,
    "trigger"      TEXT NOT NULL,
    "status"       TEXT NOT NULL DEFAULT 'running',
    "started_at"   TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at"  TIMESTAMPTZ(3),
    "duration_ms"  INTEGER,
    -- Technician ids, except removed and ignored (Flex line ids).
    "added"        TEXT[] NOT NULL DEFAULT '{}',
    "removed"      TEXT[] NOT NULL DEFAULT '{}',
    "repaired"     TEXT[] NOT NULL DEFAULT '{}',
    "adopted"      TEXT[] NOT NULL DEFAULT '{}',
    "roles_set"    TEXT[] NOT NULL DEFAULT '{}',
    "unchanged"    TEXT[] NOT NULL DEFAULT '{}',
    "ignored"      TEXT[] NOT NULL DEFAULT '{}',
    "errors"       JSONB NOT NULL DEFAULT '[]',
    CONSTRAINT "sync_runs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "sync_runs_crew_call_id_fkey" FOREIGN KEY ("crew_call_id")
        REFERENCES "crew_calls" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "sync_runs_status_check" CHECK ("status" IN ('running', 'succeeded', 'partial', 'failed'))
);
-- History newest first, per crew call and overall (cursor pagination on (started_at, id)).
CREATE INDEX "sync_runs_crew_call_id_started_at_idx" ON "sync_runs" ("crew_call_id", "started_at" DESC, "id" DESC);
CREATE INDEX "sync_runs_started_at_idx" ON "sync_runs" ("started_at" DESC, "id" DESC);
