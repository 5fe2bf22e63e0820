-- The current definition of mark_roster_changed, copied from prisma/functions/ by npm run db:function.
-- CREATE OR REPLACE cannot change a function's arguments or result type: for that, add
-- DROP FUNCTION "<name>"(<old argument types>); above its definition.

-- mark_roster_changed: the current definition (edit here, then: npm run db:function -- mark_roster_changed).
-- Callers: src/services/roster-service.ts (RosterService.markChanged); replace_roster.
-- Guarantee: a roster change of a crew call whose row the caller has locked: the next version, a reconcile
-- due within p_debounce_ms (a burst of changes shares it; pending from now unless one already was; a crew
-- call whose automatic syncs gave up is re-armed), and the change recorded in roster_versions/roster_changes
-- (p_changes is [{technician_id, change, before}]: of each change only the role before it is kept, as the
-- one after is the next change's before or today's assignment; an `after` is ignored). NULL when the crew
-- call does not exist.
-- The change's trace (W3C traceparent) is kept for the reconcile it schedules, which links to it: with
-- tracing on, Prisma's SQL commenter writes it as a comment on the calling statement, read here from
-- current_query() (NULL when the change was not traced or not sampled).
-- Every instance learns of the due reconcile at the commit: NOTIFY rostersync_sync_due with
-- {"crewCallId", "dueInMs"} (src/services/sync/sync-due-notice.ts; polling catches a lost one).
CREATE OR REPLACE FUNCTION "mark_roster_changed"(p_crew_call_id uuid, p_debounce_ms integer, p_actor text,
                                      p_request_id text, p_changes jsonb, p_restored_from integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_version integer;
    v_due_at timestamptz;
BEGIN
    UPDATE crew_calls
       SET version = version + 1, updated_at = now(),
           sync_due_at = least(sync_due_at, now() + p_debounce_ms * interval '1 millisecond'),
           sync_pending_since = coalesce(sync_pending_since, now()), sync_attempts = 0, sync_failed_at = NULL,
           sync_change_traceparent = substring(current_query() FROM 'traceparent=''(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})''')
     WHERE id = p_crew_call_id
    RETURNING version, sync_due_at INTO v_version, v_due_at;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('rostersync_sync_due', json_build_object(
        'crewCallId', p_crew_call_id,
        'dueInMs', greatest(0, ceil(extract(epoch FROM v_due_at - now()) * 1000)))::text);
    INSERT INTO roster_versions (crew_call_id, version, actor, request_id, created, updated, deleted, restored_from)
    SELECT p_crew_call_id, v_version, p_actor, p_request_id,
           count(*) FILTER (WHERE c ->> 'change' = 'created'), count(*) FILTER (WHERE c ->> 'change' = 'updated'),
           count(*) FILTER (WHERE c ->> 'change' = 'deleted'), p_restored_from
      FROM jsonb_array_elements(p_changes) AS c;
    INSERT INTO roster_changes (crew_call_id, version, technician_id, change, before_role)
    SELECT p_crew_call_id, v_version, c ->> 'technician_id', c ->> 'change', c -> 'before' ->> 'role'
      FROM jsonb_array_elements(p_changes) AS c;
    RETURN v_version;
END
$$;
