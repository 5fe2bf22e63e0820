import { answer, client } from '../api.ts'
import { age, stateBadge, table, when } from '../format.ts'
import { html } from '../html.ts'
import { refused } from '../refused.ts'
import { type Page, placeHref } from './page.ts'

const STATES = ['in-sync', 'pending', 'running', 'retrying', 'deferred', 'failed', 'not-configured'] as const

/** Counts per sync state, the Flex call budget, the newest problems and the integrity report. */
export function overviewPage(): Page {
  let drift: { checkedAt: string; text: ReturnType<typeof html> } | undefined
  return {
    title: 'Overview',
    async body() {
      const api = client()
      const [status, failed, integrity] = await Promise.all([
        answer(api.GET('/v1/sync-status')),
        answer(api.GET('/v1/crew-calls', { params: { query: { state: 'failed', limit: 10 } } })),
        answer(api.GET('/v1/admin/integrity')),
      ])
      return html`
        <section aria-labelledby="states-h"><h2 id="states-h">Crew calls by sync state</h2>
          ${
            status.ok
              ? html`<ul class="counts">${STATES.map(
                  (state) => html`<li><a href="${placeHref(['crew-calls'], { state })}">${stateBadge(state)}
                    <span class="count" data-count="${state}">${status.data.crewCallsBySyncState[state]}</span></a></li>`,
                )}</ul>
                <p>Oldest change waiting for Flex: <strong>${
                  status.data.oldestPendingChangeSeconds > 0
                    ? age(status.data.oldestPendingChangeSeconds)
                    : 'none'
                }</strong>; due now: ${status.data.due}.${status.data.flexConfigured ? '' : ' Flex is not configured: no sync runs.'}</p>`
              : refused(status)
          }
        </section>
        <section aria-labelledby="budget-h"><h2 id="budget-h">Flex call budget</h2>
          ${
            status.ok
              ? table(
                  ['window', 'used', 'left', 'limit'],
                  [
                    html`<tr><td>last hour</td><td>${status.data.flexCalls.usedLastHour}</td><td>${status.data.flexCalls.leftThisHour}</td><td>${status.data.flexCalls.perHour}</td></tr>`,
                    html`<tr><td>last day</td><td>${status.data.flexCalls.usedLastDay}</td><td>${status.data.flexCalls.leftToday}</td><td>${status.data.flexCalls.perDay}</td></tr>`,
                  ],
                  '',
                )
              : refused(status)
          }
        </section>
        <section aria-labelledby="failed-h"><h2 id="failed-h">Failed crew calls</h2>
          ${
            failed.ok
              ? table(
                  ['crew call', 'state', 'last error', 'attempts'],
                  failed.data.crewCalls.map(
                    (crewCall) => html`<tr>
                      <td><a href="${placeHref(['crew-calls', crewCall.jobId, crewCall.department])}">${crewCall.jobId} / ${crewCall.department}</a></td>
                      <td>${stateBadge(crewCall.sync.state)}</td><td class="error">${crewCall.sync.lastError ?? '—'}</td>
                      <td>${crewCall.sync.attempts}</td></tr>`,
                  ),
                  'None: no crew call has given up.',
                )
              : refused(failed)
          }
        </section>
        <section aria-labelledby="integrity-h"><h2 id="integrity-h">Integrity</h2>
          ${
            integrity.ok
              ? (
                  () => {
                    const duplicates = integrity.data.duplicates.filter((entry) => entry.groups > 0)
                    const runs = integrity.data.syncsLast24h
                    return html`${
                      duplicates.length === 0
                        ? html`<p class="good">All good: no duplicate rows.</p>`
                        : html`<p class="bad" role="alert">Duplicate rows: ${duplicates.map((d) => `${d.key} (${d.groups})`).join(', ')}</p>`
                    }
                  <p>Syncs in the last 24 hours: ${runs.runs}, of which ${runs.failed} failed${
                    runs.meanDurationMs === null ? '' : `; mean ${runs.meanDurationMs} ms`
                  }.</p>
                  <p>Drift (crew lines recorded here that Flex no longer has): ${
                    drift
                      ? html`${drift.text} <span class="muted">(checked ${when(drift.checkedAt)})</span>`
                      : 'not checked.'
                  } <button type="button" data-action="check-flex">Check Flex for drift</button></p>`
                  }
                )()
              : refused(integrity)
          }
        </section>`
    },
    actions: {
      async 'check-flex'() {
        const result = await answer(
          client().GET('/v1/admin/integrity', { params: { query: { checkFlex: true } } }),
        )
        const checkedAt = new Date().toISOString()
        if (!result.ok) drift = { checkedAt, text: refused(result) }
        else {
          const missing = result.data.missingFlexLines ?? []
          drift = {
            checkedAt,
            text:
              missing.length === 0
                ? html`<span class="good">none: all good.</span>`
                : html`<span class="bad">${missing.length} missing: ${missing
                    .map((line) => `${line.jobId}/${line.department} ${line.technicianId}`)
                    .join(', ')}. The next sync repairs them.</span>`,
          }
        }
      },
    },
  }
}
