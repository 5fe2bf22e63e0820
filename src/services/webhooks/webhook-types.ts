import { z } from 'zod'
import {
  countSchema,
  messageSchema,
  storedId,
  timestampSchema,
  uuidSchema,
  versionSchema,
} from '../../schemas/common.ts'
import { departmentSchema } from '../../schemas/departments.ts'
import { MAX_RUN_NOTES, syncStatuses, syncTriggers } from '../sync/sync-schemas.ts'

/**
 * The `data` of each event type: thin, the receiver reads the details through the API. The delivery
 * worker parses every payload with these before signing it (webhookBody), and the OpenAPI document's
 * `webhooks` are generated from them (src/plugins/openapi-webhooks.ts), so the two cannot drift.
 */
export const webhookEventData = {
  'calendar-set.changed': z.object({
    userId: storedId(),
    version: versionSchema.describe('The version this change made: read it with `?version=N`.'),
    created: countSchema().describe('Calendars created by the change.'),
    updated: countSchema(),
    deleted: countSchema(),
    restoredFrom: versionSchema.nullable().describe('The version a restore brought back; null otherwise.'),
  }),
  'roster.changed': z.object({
    jobId: storedId(),
    department: departmentSchema,
    version: versionSchema.describe("The roster's version this change made."),
  }),
  'crew-sync.finished': z.object({
    jobId: storedId(),
    department: departmentSchema,
    runId: uuidSchema().describe('The sync run: GET /v1/sync-runs/{runId}.'),
    trigger: z.enum(syncTriggers),
    status: z.enum(syncStatuses).exclude(['running']),
    error: messageSchema().nullable().describe("The run's first error; null when it had none."),
    notes: z.array(messageSchema()).max(MAX_RUN_NOTES).describe('What the run could not verify in Flex.'),
  }),
  'crew-call.sync-failed': z.object({
    jobId: storedId(),
    department: departmentSchema,
    attempts: countSchema().describe('Runs in a row that did not succeed before autonomous sync gave up.'),
    lastError: messageSchema().nullable(),
  }),
} as const

/** The event types a webhook endpoint may subscribe to; the payload of each is in docs/webhooks.md. */
export const webhookEventTypes = [
  'calendar-set.changed',
  'roster.changed',
  'crew-sync.finished',
  'crew-call.sync-failed',
] as const satisfies readonly (keyof typeof webhookEventData)[]

export type WebhookEventType = (typeof webhookEventTypes)[number]

/** The body of every delivery of an event of type T: `{ type, timestamp, data }` (Standard Webhooks). */
export const webhookEventSchema = <T extends WebhookEventType>(type: T) =>
  z.object({
    type: z.literal(type),
    timestamp: timestampSchema().describe('When the change happened (ISO 8601), the same for every attempt.'),
    data: webhookEventData[type],
  })

export type WebhookEvent<T extends WebhookEventType = WebhookEventType> = z.output<
  ReturnType<typeof webhookEventSchema<T>>
>

/** Each type's body schema, made once: zod compiles a schema at its first parse, which costs far more than parsing. */
const bodySchemas = new Map(webhookEventTypes.map((type) => [type, webhookEventSchema(type)]))

/**
 * The body sent for an event, parsed with its schema: a field the schema does not name is left out, and
 * a payload that does not match throws (the attempt fails, visibly, instead of sending what the document
 * does not describe).
 */
export function webhookBody(type: WebhookEventType, occurredAt: Date, data: unknown): string {
  const schema = bodySchemas.get(type)
  if (!schema) throw new Error(`no schema for the event type ${JSON.stringify(type)}`)
  return JSON.stringify(schema.parse({ type, timestamp: occurredAt.toISOString(), data }))
}

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
