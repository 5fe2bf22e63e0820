import { type Answer, problemText } from './api.ts'
import { table, when } from './format.ts'
import { type Html, html } from './html.ts'
import { refused } from './refused.ts'

/** A version as both histories list it (GET …/calendars/history and …/assignments/history). */
interface VersionSummary {
  version: number
  restoredFrom: number | null
  changedAt: string
  actor: string
  changes: { created: number; updated: number; deleted: number }
}

/** The versions kept, newest first, each with a link to its diff against now (`diffHref`). */
export function historySection(
  heading: string,
  history: Answer<{ versions: VersionSummary[] }>,
  diffHref: (version: number) => string,
): Html {
  return html`<section aria-labelledby="history-h"><h2 id="history-h">${heading}</h2>
    ${
      history.ok
        ? table(
            ['version', 'when', 'who', 'created / updated / deleted', ''],
            history.data.versions.map(
              (
                v,
              ) => html`<tr><td>${v.version}${v.restoredFrom === null ? '' : ` (restored ${v.restoredFrom})`}</td>
                <td>${when(v.changedAt)}</td><td>${v.actor}</td>
                <td>${v.changes.created} / ${v.changes.updated} / ${v.changes.deleted}</td>
                <td><a href="${diffHref(v.version)}">Diff v${v.version} with now</a></td></tr>`,
            ),
            'No versions kept.',
          )
        : refused(history)
    }
  </section>`
}

/**
 * Version `version` (read as `then`) against the current one: `diff` renders what changed, and the
 * Restore button (data-action="restore") brings it back as a new version. Nothing without a version asked.
 */
export function diffSection<Then>(
  version: number | undefined,
  currentVersion: number,
  then: Answer<Then> | undefined,
  diff: (then: Then) => Html,
): Html | string {
  if (version === undefined || then === undefined) return ''
  return html`<section aria-labelledby="diff-h"><h2 id="diff-h">Version ${version} against now (version ${currentVersion})</h2>
    ${
      then.ok
        ? html`${diff(then.data)}
          <button type="button" data-action="restore" data-version="${version}">Restore</button>`
        : refused(then)
    }</section>`
}

/** What a restore answered, for the page's outcome line. */
export const restoreOutcome = (version: number, result: Answer<{ version: number }>): Html =>
  result.ok
    ? html`<p>Restored version ${version} as version ${result.data.version}.</p>`
    : html`<p class="refused" role="alert">${problemText(result.problem, result.status)}</p>`
