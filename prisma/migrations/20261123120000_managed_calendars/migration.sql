-- Managed calendars: a user's calendar set, replaced atomically and serialized per user.

-- One row per user: its row lock serializes replaces of that user's set; version is the ETag.
CREATE TABLE "calendar_sets" (
    "user_id"    TEXT NOT NULL,
    "version"    INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "calendar_sets_pkey" PRIMARY KEY ("user_id"),
    CONSTRAINT "calendar_sets_version_check" CHECK ("version" >= 0)
);

CREATE TABLE "managed_calendars" (
    "id"               UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id"          TEXT NOT NULL,
    "calendar_id"      TEXT NOT NULL,
    "summary"          TEXT NOT NULL,
    "description"      TEXT,
    "time_zone"        TEXT,
    "background_color" TEXT,
    "foreground_color" TEXT,
    "access_role"      TEXT,
    "is_primary"       BOOLEAN NOT NULL DEFAULT false,
    "is_selected"      BOOLEAN NOT NULL DEFAULT false,
    "created_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "managed_calendars_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "managed_calendars_calendar_id_check" CHECK (char_length("calendar_id") BETWEEN 1 AND 1024),
    CONSTRAINT "managed_calendars_access_role_check"
        CHECK ("access_role" IN ('owner', 'writer', 'reader', 'freeBusyReader'))
);

-- G3: one row per (user, calendar), whatever the concurrency.
CREATE UNIQUE INDEX "managed_calendars_user_id_calendar_id_key"
    ON "managed_calendars" ("user_id", "calendar_id");

-- At most one primary calendar per user.
CREATE UNIQUE INDEX "managed_calendars_one_primary_per_user"
    ON "managed_calendars" ("user_id") WHERE "is_primary";
