-- calendar_json: the current definition (edit here, then: npm run db:function -- calendar_json).
-- Callers: replace_calendar_set, calendar_set_at, calendar_changes_since (prisma/functions/).
-- Guarantee: one calendar as the API's Calendar schema, compact JSON text, its fields in the schema's
-- order, so answers and history rows built in SQL match what the API serializes.
CREATE OR REPLACE FUNCTION "calendar_json"(mc managed_calendars)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT '{"calendarId":' || to_json(mc.calendar_id)::text
        || ',"summary":' || to_json(mc.summary)::text
        || ',"description":' || coalesce(to_json(mc.description)::text, 'null')
        || ',"timeZone":' || coalesce(to_json(mc.time_zone)::text, 'null')
        || ',"backgroundColor":' || coalesce(to_json(mc.background_color)::text, 'null')
        || ',"foregroundColor":' || coalesce(to_json(mc.foreground_color)::text, 'null')
        || ',"accessRole":' || coalesce(to_json(mc.access_role)::text, 'null')
        || ',"primary":' || mc.is_primary::text
        || ',"selected":' || mc.is_selected::text
        || ',"createdAt":"' || to_char(mc.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || '","updatedAt":"' || to_char(mc.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || '"}'
$$;
