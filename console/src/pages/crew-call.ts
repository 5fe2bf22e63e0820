import type { Department, Schemas } from '../../../sdk/src/index.ts'
import { answer, client } from '../api.ts'
import { diffSets, diffTable } from '../diff.ts'
import { stateBadge, table, when } from '../format.ts'
import { diffSection, historySection, restoreOutcome } from '../history.ts'
import { type Html, html } from '../html.ts'
import { refused } from '../refused.ts'
import { type Page, type Place, placeHref } from './page.ts'

type Run = Schemas['SyncRun']
type Plan = Schemas['SyncPlan']

const count = (label: string, items: string[]) => (items.length > 0 ? `${label} ${items.length}` : '')
const runCounts = (run: Run) =>
  [
    count('added', run.added),
    count('removed', run.removed),
    count('repaired', run.repaired),
    count('adopted', run.adopted),
    count('roles set', run.rolesSet),
    count('unchanged', run.unchanged),
  ]
    .filter(Boolean)
    .join(', ') || 'nothing to do'
const runError = (run: Run) => run.errors[0]?.message ?? ''

/** One crew call: its sync state, "Sync now", its runs, a dry-run plan, its roster and history. */
export function crewCallPage(place: Place): Page {
  const [, jobId = '', department = 'sound'] = place.path
  const key = { jobId, department: department as Department }
  const path = { path: key }
  const diffVersion = Number(place.query.get('diff')) || undefined
  const name = `${department} crew call of job ${jobId}`
  let outcome: Html | undefined
  let plan: Html | undefined
  return {
    title: `The ${name}`,
    controls: html`<div class="actions">
        <button type="button" data-action="sync-now">Sync now</button>
        <button type="button" data-action="plan">Plan a sync (dry run)</button>
      </div>`,
    async body() {
      const api = client()
      const [crewCall, runs, history, then] = await Promise.all([
        answer(api.GET('/v1/jobs/{jobId}/crew-calls/{department}', { params: path })),
        answer(api.GET('/v1/sync-runs', { params: { query: { ...key, limit: 10 } } })),
        answer(
          api.GET('/v1/jobs/{jobId}/crew-calls/{department}/assignments/history', {
            params: { ...path, query: { limit: 20 } },
          }),
        ),
        diffVersion === undefined
          ? undefined
          : answer(
              api.GET('/v1/jobs/{jobId}/crew-calls/{department}/assignments', {
                params: { ...path, query: { version: diffVersion } },
              }),
            ),
      ])
      if (!crewCall.ok) return refused(crewCall)
      const { sync, assignments } = crewCall.data
      return html`
        <div role="status" class="outcome">${outcome ?? ''}</div>
        ${plan ?? ''}
        <section aria-labelledby="sync-h"><h2 id="sync-h">Sync</h2>
          <dl class="facts">
            <dt>State</dt><dd data-testid="sync-state">${stateBadge(sync.state)}</dd>
            <dt>Roster version / synced version</dt><dd>${sync.rosterVersion} / ${sync.syncedVersion ?? '—'}</dd>
            <dt>Attempts</dt><dd>${sync.attempts}</dd>
            <dt>Last error</dt><dd class="error">${sync.lastError ?? '—'}</dd>
            <dt>Next attempt</dt><dd>${when(sync.nextAttemptAt)}</dd>
            <dt>Flex element</dt><dd><code>${crewCall.data.flexElementId}</code></dd>
          </dl>
          ${sync.state === 'not-configured' ? html`<p class="hint">Flex is not configured on this server: nothing will sync until an operator sets FLEX_BASE_URL and FLEX_AUTH_TOKEN and restarts it.</p>` : ''}
          ${sync.state === 'failed' ? html`<p class="hint">It gave up after ${sync.attempts} attempts: fix the cause, then "Sync now" re-arms it.</p>` : ''}
        </section>
        <section aria-labelledby="runs-h"><h2 id="runs-h">Recent sync runs</h2>
          ${
            runs.ok
              ? table(
                  ['started', 'trigger', 'status', 'what it did', 'duration', 'error', 'notes'],
                  runs.data.runs.map(
                    (
                      run,
                    ) => html`<tr><td>${when(run.startedAt)}</td><td>${run.trigger}</td><td>${run.status}</td>
                      <td>${runCounts(run)}</td><td>${run.durationMs === null ? '—' : `${run.durationMs} ms`}</td>
                      <td class="error">${runError(run)}</td><td data-testid="run-notes">${runNotes(run.notes)}</td></tr>`,
                  ),
                  'No run yet.',
                )
              : refused(runs)
          }
        </section>
        <section aria-labelledby="roster-h"><h2 id="roster-h">Roster (version ${crewCall.data.version})</h2>
          ${table(
            ['technician', 'role', 'Flex line', 'synced'],
            assignments.map(
              (a) =>
                html`<tr><td>${a.technicianId}</td><td>${a.role ?? '—'}</td><td><code>${a.flexLineItemId ?? '—'}</code></td><td>${when(a.syncedAt)}</td></tr>`,
            ),
            'The roster is empty.',
          )}
        </section>
        ${historySection('Roster history', history, (version) =>
          placeHref(['crew-calls', jobId, department], { diff: version }),
        )}
        ${diffSection(diffVersion, crewCall.data.version, then, (old) =>
          diffTable(
            diffSets(old.assignments, assignments, 'technicianId', ['role']),
            'technicianId',
            'technician',
          ),
        )}`
    },
    actions: {
      async 'sync-now'() {
        outcome = html`<p>Syncing…</p>`
        const result = await answer(
          client().POST('/v1/jobs/{jobId}/crew-calls/{department}/sync', { params: path }),
        )
        if (!result.ok) outcome = refused(result)
        else if ('run' in result.data) {
          const { run } = result.data
          outcome = html`<p class="run-${run.status}">Sync run <strong>${run.status}</strong>: ${runCounts(run)}${
            run.durationMs === null ? '' : ` in ${run.durationMs} ms`
          }${runError(run) ? html`; error: <span class="error">${runError(run)}</span>` : ''}</p>`
        }
      },
      async plan() {
        const result = await answer(
          client().POST('/v1/jobs/{jobId}/crew-calls/{department}/sync', {
            params: { ...path, query: { dryRun: true } },
          }),
        )
        if (!result.ok) plan = refused(result)
        else if ('plan' in result.data) plan = planView(result.data.plan)
      },
      async restore(button) {
        const version = Number(button.dataset.version)
        if (!confirm(`Restore version ${version} of the roster of the ${name}? It becomes a new version.`))
          return
        const result = await answer(
          client().POST('/v1/jobs/{jobId}/crew-calls/{department}/assignments/restore', {
            params: path,
            body: { version },
          }),
        )
        outcome = restoreOutcome(version, result)
      },
    },
  }
}

function planView(plan: Plan): Html {
  const line = (label: string, items: string[]) =>
    items.length === 0 ? '' : html`<li>${label}: ${items.join(', ')}</li>`
  const lines = [
    line('add', plan.add),
    line('repair', plan.repair),
    line('adopt', plan.adopt),
    line('remove', plan.remove),
    line('set role', plan.setRole),
    line('unchanged', plan.unchanged),
    line('ignored (not ours)', plan.ignored),
  ].filter((item) => item !== '')
  return html`<section aria-labelledby="plan-h"><h2 id="plan-h">What a sync would do now</h2>
    ${lines.length === 0 ? html`<p>Nothing: Flex already holds the roster.</p>` : html`<ul>${lines}</ul>`}</section>`
}

/** A run's notes (roles not set in Flex and why, fields left as they were), one per line. */
function runNotes(notes: string[]): Html | string {
  if (notes.length === 0) return '—'
  return html`<ul class="notes">${notes.map((note) => html`<li>${note}</li>`)}</ul>`
}
