-- Departments come from configuration (CREW_DEPARTMENTS, issue 23): Flex tenants name their own, so the
-- database no longer fixes the list (sound, lights, video); it keeps only the shape of a name, and the
-- service accepts the configured ones.
ALTER TABLE "crew_calls" DROP CONSTRAINT "crew_calls_department_check";
ALTER TABLE "crew_calls" ADD CONSTRAINT "crew_calls_department_check"
    CHECK ("department" ~ '^[a-z][a-z0-9-]{0,31}$');
