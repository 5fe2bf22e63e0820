-- calendar_change: the current definition (edit here, then: npm run db:function -- calendar_change).
-- Callers: replace_calendar_set (prisma/functions/).
-- Guarantee: one entry of a version's `changes` (calendar_versions.changes, an array of the composite
-- type calendar_change): the calendar's id and its row as it was before the change, field by field, or
-- created = true with the fields NULL when p_before is NULL (the calendar did not exist before). A
-- composite value is built and stored as it is, with no conversion of the row to JSON: that conversion
-- was most of what history cost a replace (migration 20261206232624). Inlined by the planner.
CREATE OR REPLACE FUNCTION "calendar_change"(p_calendar_id text, p_before managed_calendars)
RETURNS calendar_change
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(p_calendar_id, p_before IS NULL, (p_before).summary, (p_before).description,
               (p_before).time_zone, (p_before).background_color, (p_before).foreground_color,
               (p_before).access_role, (p_before).is_primary, (p_before).is_selected,
               (p_before).created_at, (p_before).updated_at)::calendar_change
$$;
