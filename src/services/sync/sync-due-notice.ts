/**
 * The notice every instance gets when a roster change makes a reconcile due: mark_roster_changed sends it
 * with pg_notify on this channel, in the change's transaction, so it goes out exactly when the change
 * commits (prisma/functions/mark_roster_changed.sql). Polling stays the safety net for a lost one.
 */
export const SYNC_DUE_CHANNEL = 'rostersync_sync_due'

export interface SyncDueNotice {
  crewCallId: string
  /** How long after the commit the reconcile falls due (the debounce, or less). */
  dueInMs: number
}

/** The notice in a notification's payload; undefined for anything else (then the poll finds the work). */
export function parseSyncDueNotice(payload: string | undefined): SyncDueNotice | undefined {
  try {
    const notice = JSON.parse(payload ?? '') as Partial<SyncDueNotice>
    if (typeof notice.crewCallId !== 'string' || typeof notice.dueInMs !== 'number') return undefined
    if (!Number.isFinite(notice.dueInMs)) return undefined
    return { crewCallId: notice.crewCallId, dueInMs: Math.max(0, notice.dueInMs) }
  } catch {
    return undefined
  }
}
