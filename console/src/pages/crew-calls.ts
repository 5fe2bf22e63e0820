import { answer, client } from '../api.ts'
import { stateBadge, table, when } from '../format.ts'
import { html } from '../html.ts'
import { refused } from '../refused.ts'
import { type Page, type Place, placeHref } from './page.ts'

const STATES = ['in-sync', 'pending', 'running', 'retrying', 'deferred', 'failed', 'not-configured'] as const
type State = (typeof STATES)[number]

/** Every crew call across jobs, newest activity first, filtered by sync state. */
export function crewCallsPage(place: Place): Page {
  const stateParam = place.query.get('state')
  const state = STATES.includes(stateParam as State) ? (stateParam as State) : undefined
  const cursor = place.query.get('cursor') ?? undefined
  return {
    title: 'Crew calls',
    controls: html`<form data-form="filter" class="filter">
        <label for="state-filter">State</label>
        <select id="state-filter" name="state">
          <option value="">every state</option>
          ${STATES.map((s) => html`<option value="${s}" ${s === state ? html`selected` : ''}>${s}</option>`)}
        </select>
        <button type="submit">Filter</button>
      </form>`,
    async body() {
      const page = await answer(
        client().GET('/v1/crew-calls', {
          params: { query: { limit: 50, ...(state && { state }), ...(cursor && { cursor }) } },
        }),
      )
      if (!page.ok) return refused(page)
      const rows = page.data.crewCalls.map(
        (crewCall) => html`<tr>
          <td><a href="${placeHref(['crew-calls', crewCall.jobId, crewCall.department])}">${crewCall.jobId}</a></td>
          <td>${crewCall.department}</td><td>${stateBadge(crewCall.sync.state)}</td>
          <td>${crewCall.sync.rosterVersion} / ${crewCall.sync.syncedVersion ?? '—'}</td>
          <td>${crewCall.sync.attempts}</td><td class="error">${crewCall.sync.lastError ?? '—'}</td>
          <td>${when(crewCall.sync.nextAttemptAt)}</td></tr>`,
      )
      return html`${table(
        ['job', 'department', 'state', 'roster / synced version', 'attempts', 'last error', 'next attempt'],
        rows,
        state ? `No crew call is ${state}.` : 'No crew calls yet.',
      )}
      ${
        page.data.nextCursor
          ? html`<p><a href="${placeHref(['crew-calls'], { state, cursor: page.data.nextCursor })}">Next page</a></p>`
          : ''
      }`
    },
    actions: {
      filter(form) {
        const value = (form.querySelector('select') as HTMLSelectElement).value
        location.hash = placeHref(['crew-calls'], { state: value || undefined })
      },
    },
  }
}
