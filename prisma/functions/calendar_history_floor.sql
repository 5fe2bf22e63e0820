-- calendar_history_floor: the current definition (edit here, then: npm run db:function -- calendar_history_floor).
-- Callers: calendar_set_at and calendar_changes_since (prisma/functions/).
-- Guarantee: the oldest version of a user's set that can still be rebuilt: the predecessor of the oldest
-- kept version, or the current version when none is kept (a set last changed before history began).
CREATE OR REPLACE FUNCTION "calendar_history_floor"(p_user_id text)
RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT min(cv.version) - 1 FROM calendar_versions cv WHERE cv.user_id = p_user_id),
                    (SELECT cs.version FROM calendar_sets cs WHERE cs.user_id = p_user_id), 0)
$$;
