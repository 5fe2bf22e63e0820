import { type Html, html } from './html.ts'

/** A time as the reader's locale shows it, with the exact instant in a <time> element. */
export function when(iso: string | null | undefined): Html | string {
  if (!iso) return '—'
  return html`<time datetime="${iso}">${new Date(iso).toLocaleString()}</time>`
}

/** A duration in seconds as "42 s", "3 min", "2 h 5 min". */
export function age(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`
}

/** A sync state, as the API words it (a screen reader and a test find the same word). */
export const stateBadge = (state: string) => html`<span class="state state-${state}">${state}</span>`

export const table = (head: string[], rows: Html[], empty: string) =>
  rows.length === 0
    ? html`<p class="muted">${empty}</p>`
    : html`<div class="scroll"><table>
        <thead><tr>${head.map((cell) => html`<th scope="col">${cell}</th>`)}</tr></thead>
        <tbody>${rows}</tbody></table></div>`
