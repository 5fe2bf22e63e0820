import { answer, client } from '../api.ts'
import { diffSets, diffTable } from '../diff.ts'
import { table, when } from '../format.ts'
import { diffSection, historySection, restoreOutcome } from '../history.ts'
import { type Html, html } from '../html.ts'
import { refused } from '../refused.ts'
import { type Page, type Place, placeHref } from './page.ts'

const FIELDS = [
  'summary',
  'description',
  'timeZone',
  'backgroundColor',
  'foregroundColor',
  'accessRole',
  'primary',
  'selected',
] as const

/** A user's calendar set: its calendars, its history, a diff of any version against now, and restore. */
export function calendarsPage(place: Place): Page {
  const userId = place.path[1]
  const diffVersion = Number(place.query.get('diff')) || undefined
  let outcome: Html | undefined
  const controls = html`<form data-form="open-user" class="filter">
      <label for="user-id">User id</label>
      <input id="user-id" name="userId" required value="${userId ?? ''}" autocomplete="off" />
      <button type="submit">Open</button>
    </form>`
  return {
    title: userId === undefined ? 'Calendars' : `Calendars of ${userId}`,
    controls,
    async body() {
      if (userId === undefined)
        return html`<p class="muted">Enter a user id to open that user's calendars.</p>`
      const api = client()
      const path = { path: { userId } }
      const [set, history, then] = await Promise.all([
        answer(api.GET('/v1/users/{userId}/calendars', { params: path })),
        answer(
          api.GET('/v1/users/{userId}/calendars/history', { params: { ...path, query: { limit: 20 } } }),
        ),
        diffVersion === undefined
          ? undefined
          : answer(
              api.GET('/v1/users/{userId}/calendars', {
                params: { ...path, query: { version: diffVersion } },
              }),
            ),
      ])
      if (!set.ok) return refused(set)
      return html`
        <div role="status" class="outcome">${outcome ?? ''}</div>
        <section aria-labelledby="set-h"><h2 id="set-h">Calendars (version ${set.data.version})</h2>
          ${table(
            ['calendar', 'summary', 'time zone', 'access', 'updated'],
            set.data.calendars.map(
              (
                c,
              ) => html`<tr><td><code>${c.calendarId}</code></td><td>${c.summary}</td><td>${c.timeZone ?? '—'}</td>
                <td>${c.accessRole ?? '—'}</td><td>${when(c.updatedAt)}</td></tr>`,
            ),
            'No calendars.',
          )}
        </section>
        ${historySection('History', history, (version) => placeHref(['calendars', userId], { diff: version }))}
        ${diffSection(diffVersion, set.data.version, then, (old) =>
          diffTable(
            diffSets(old.calendars, set.data.calendars, 'calendarId', FIELDS),
            'calendarId',
            'calendar',
          ),
        )}`
    },
    actions: {
      'open-user'(form) {
        const value = (form.querySelector('input') as HTMLInputElement).value.trim()
        if (value) location.hash = placeHref(['calendars', value])
      },
      async restore(button) {
        if (userId === undefined) return
        const version = Number(button.dataset.version)
        if (!confirm(`Restore version ${version} of the calendars of ${userId}? It becomes a new version.`))
          return
        const result = await answer(
          client().POST('/v1/users/{userId}/calendars/restore', {
            params: { path: { userId } },
            body: { version },
          }),
        )
        outcome = restoreOutcome(version, result)
      },
    },
  }
}
