/** The event types a webhook endpoint may subscribe to; the payload of each is in docs/webhooks.md. */
export const webhookEventTypes = [
  'calendar-set.changed',
  'roster.changed',
  'crew-sync.finished',
  'crew-call.sync-failed',
] as const

export type WebhookEventType = (typeof webhookEventTypes)[number]

export const deliveryStatuses = ['pending', 'succeeded', 'failed'] as const
export type DeliveryStatus = (typeof deliveryStatuses)[number]

export interface WebhookEndpointView {
  id: string
  url: string
  events: WebhookEventType[]
  enabled: boolean
  /** Why it is disabled (a 410 from the receiver, or by hand); null while enabled. */
  disabledReason: string | null
  description: string | null
  createdAt: string
}

export interface WebhookDeliveryView {
  id: string
  eventId: string
  type: WebhookEventType
  status: DeliveryStatus
  attempts: number
  lastStatus: number | null
  lastError: string | null
  nextAttemptAt: string | null
  deliveredAt: string | null
  createdAt: string
}

export interface NewWebhookEndpoint {
  url: string
  events?: WebhookEventType[] | undefined
  description?: string | null | undefined
}

export interface WebhookEndpointChanges {
  url?: string | undefined
  events?: WebhookEventType[] | undefined
  enabled?: boolean | undefined
  description?: string | null | undefined
}
