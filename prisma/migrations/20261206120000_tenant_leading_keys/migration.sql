-- Issue 24: every primary and unique key of a table that will be distributed (docs/scaling.md) holds the
-- column its colocation group is distributed by, as Citus requires; on one node each change costs
-- nothing (the same rows, the same lookups, and two indexes fewer).

-- managed_calendars (group "user", by user_id): a calendar is found by (user_id, calendar_id), which
-- every write path already upserts on; that key becomes the primary key and the primary key on the
-- surrogate "id" alone, which nothing reads, goes. "id" stays as a column (the API never showed it).
ALTER TABLE "managed_calendars" DROP CONSTRAINT "managed_calendars_pkey";
DROP INDEX "managed_calendars_user_id_calendar_id_key";
ALTER TABLE "managed_calendars" ADD CONSTRAINT "managed_calendars_pkey" PRIMARY KEY ("user_id", "calendar_id");

-- crew_assignments (group "crew_call", by crew_call_id): (crew_call_id, technician_id), the key every
-- write path upserts on, becomes the primary key, and the primary key on "id" alone goes. A Flex line
-- item is a child of the crew call's element, so its id is unique within the crew call: the unique key
-- on flex_line_item_id alone becomes (crew_call_id, flex_line_item_id), which is also how the sync
-- looks a line up (crew-line-store). The integrity report still counts a line id held twice anywhere.
ALTER TABLE "crew_assignments" DROP CONSTRAINT "crew_assignments_pkey";
DROP INDEX "crew_assignments_crew_call_id_technician_id_key";
ALTER TABLE "crew_assignments" ADD CONSTRAINT "crew_assignments_pkey" PRIMARY KEY ("crew_call_id", "technician_id");
DROP INDEX "crew_assignments_flex_line_item_id_key";
CREATE UNIQUE INDEX "crew_assignments_crew_call_id_flex_line_item_id_key"
    ON "crew_assignments" ("crew_call_id", "flex_line_item_id");

-- sync_runs (group "crew_call"): a run is always written by its crew call's sync, which knows the crew
-- call, so its primary key leads with it.
ALTER TABLE "sync_runs" DROP CONSTRAINT "sync_runs_pkey";
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_pkey" PRIMARY KEY ("crew_call_id", "id");
