import { problemText } from './api.ts'
import { html } from './html.ts'

/** What the API refused, shown as it is: a 403 says which credential the route needs. */
export const refused = (answer: { status: number; problem: Parameters<typeof problemText>[0] }) =>
  html`<p class="refused" role="alert" data-status="${answer.status}">${problemText(answer.problem, answer.status)}</p>`
