import { answer, client, problemText } from '../api.ts'
import { table, when } from '../format.ts'
import { type Html, html } from '../html.ts'
import { refused } from '../refused.ts'
import type { Page } from './page.ts'

/** Webhook endpoints, each with its failed deliveries (their error) and "Retry". */
export function webhooksPage(): Page {
  let outcome: Html | undefined
  return {
    title: 'Webhooks',
    async body() {
      const api = client()
      const endpoints = await answer(api.GET('/v1/webhook-endpoints', { params: { query: { limit: 100 } } }))
      if (!endpoints.ok) return refused(endpoints)
      const sections = await Promise.all(
        endpoints.data.endpoints.map(async (endpoint) => {
          const failed = await answer(
            api.GET('/v1/webhook-endpoints/{id}/deliveries', {
              params: { path: { id: endpoint.id }, query: { status: 'failed', limit: 50 } },
            }),
          )
          const label = endpoint.description ? `${endpoint.description} (${endpoint.url})` : endpoint.url
          return html`<section aria-label="${label}" class="endpoint"><h2>${label}</h2>
            <p>${
              endpoint.enabled
                ? html`<span class="state state-in-sync">enabled</span>`
                : html`<span class="state state-failed">disabled</span> <span class="error">${endpoint.disabledReason ?? ''}</span>
                    <button type="button" data-action="enable" data-endpoint="${endpoint.id}">Enable</button>`
            } · events: ${endpoint.events.join(', ')} · since ${when(endpoint.createdAt)}</p>
            ${
              failed.ok
                ? table(
                    ['event', 'attempts', 'last status', 'last error', 'created', ''],
                    failed.data.deliveries.map(
                      (d) => html`<tr><td>${d.type}</td><td>${d.attempts}</td><td>${d.lastStatus ?? '—'}</td>
                        <td class="error">${d.lastError ?? '—'}</td><td>${when(d.createdAt)}</td>
                        <td><button type="button" data-action="retry" data-endpoint="${endpoint.id}" data-delivery="${d.id}"
                          aria-label="Retry ${d.type} ${d.id}">Retry</button></td></tr>`,
                    ),
                    'No failed deliveries.',
                  )
                : refused(failed)
            }</section>`
        }),
      )
      return html`${outcome ? html`<div role="status">${outcome}</div>` : ''}
        ${sections.length === 0 ? html`<p class="muted">No webhook endpoints. Subscribe one with POST /v1/webhook-endpoints.</p>` : sections}`
    },
    actions: {
      async retry(button) {
        const id = button.dataset.endpoint ?? ''
        const deliveryId = button.dataset.delivery ?? ''
        const result = await answer(
          client().POST('/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry', {
            params: { path: { id, deliveryId } },
          }),
        )
        outcome = result.ok
          ? html`<p>Delivery ${deliveryId} sent again (same webhook-id): now <strong>${result.data.status}</strong>.</p>`
          : html`<p class="refused" role="alert">${problemText(result.problem, result.status)}</p>`
      },
      async enable(button) {
        const id = button.dataset.endpoint ?? ''
        const result = await answer(
          client().PATCH('/v1/webhook-endpoints/{id}', { params: { path: { id } }, body: { enabled: true } }),
        )
        outcome = result.ok
          ? html`<p>Endpoint enabled: deliveries that waited go out now; retry the failed ones.</p>`
          : html`<p class="refused" role="alert">${problemText(result.problem, result.status)}</p>`
      },
    },
  }
}
