import { z } from 'zod'
import {
  countSchema,
  freeText,
  messageSchema,
  storedText,
  timestampSchema,
  uuidSchema,
} from '../../schemas/common.ts'
import { MAX_PAGE_SIZE, nextCursorSchema, pageQueryShape } from '../../schemas/pagination.ts'
import {
  deliveryStatuses,
  type WebhookDeliveryView,
  type WebhookEndpointView,
  webhookEventTypes,
} from '../../services/webhooks/webhook-types.ts'

const MAX_URL_LENGTH = 2048

export const webhookEventTypeSchema = z.enum(webhookEventTypes).meta({ id: 'WebhookEventType' })

const urlSchema = z
  .url({ protocol: /^https?$/ })
  .max(MAX_URL_LENGTH)
  .describe(
    'Where deliveries are POSTed. Must be https and resolve to a public address (checked now and at every ' +
      'delivery), unless the server runs with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true.',
  )
const eventsSchema = z
  .array(webhookEventTypeSchema)
  .min(1)
  .max(webhookEventTypes.length)
  .refine((events) => new Set(events).size === events.length, 'lists an event type twice')
  .describe('The event types it receives.')
const MAX_DESCRIPTION_LENGTH = 1000
const descriptionSchema = freeText().max(MAX_DESCRIPTION_LENGTH).nullable()

export const createWebhookEndpointSchema = z
  .strictObject({
    url: urlSchema,
    events: eventsSchema.optional().describe('The event types it receives; every type when absent.'),
    description: descriptionSchema.optional(),
  })
  .meta({ id: 'CreateWebhookEndpoint' })

export const updateWebhookEndpointSchema = z
  .strictObject({
    url: urlSchema.optional(),
    events: eventsSchema.optional(),
    enabled: z
      .boolean()
      .optional()
      .describe('false stops deliveries (they wait); true resumes them and clears `disabledReason`.'),
    description: descriptionSchema.optional(),
  })
  .meta({ id: 'UpdateWebhookEndpoint' })

export const webhookEndpointSchema = z
  .object({
    id: uuidSchema(),
    url: storedText(MAX_URL_LENGTH),
    events: z.array(webhookEventTypeSchema).max(webhookEventTypes.length),
    enabled: z.boolean(),
    disabledReason: messageSchema()
      .nullable()
      .describe('Why it is disabled: a 410 Gone from the receiver, or by hand. Null while enabled.'),
    description: storedText(MAX_DESCRIPTION_LENGTH).nullable(),
    createdAt: timestampSchema(),
  })
  .meta({ id: 'WebhookEndpoint' }) satisfies z.ZodType<WebhookEndpointView>

/** `whsec_` and 44 characters of base64. */
const SECRET_LENGTH = 50
const secretSchema = z
  .string()
  .max(SECRET_LENGTH)
  .describe('`whsec_` and the base64 of 32 random bytes: the key of every signature. Shown only here.')

export const createdWebhookEndpointSchema = webhookEndpointSchema
  .extend({ secret: secretSchema })
  .meta({ id: 'CreatedWebhookEndpoint' })

export const rotatedSecretSchema = z.object({ secret: secretSchema }).meta({ id: 'RotatedWebhookSecret' })

export const webhookEndpointParamsSchema = z.strictObject({ id: uuidSchema() })
export const webhookDeliveryParamsSchema = z.strictObject({ id: uuidSchema(), deliveryId: uuidSchema() })

export const webhookEndpointsQuerySchema = z.strictObject(pageQueryShape())
export const webhookEndpointsPageSchema = z
  .object({ endpoints: z.array(webhookEndpointSchema).max(MAX_PAGE_SIZE), nextCursor: nextCursorSchema })
  .meta({ id: 'WebhookEndpointsPage' })

export const webhookDeliveriesQuerySchema = z.strictObject({
  status: z.enum(deliveryStatuses).optional(),
  ...pageQueryShape(),
})

export const webhookDeliverySchema = z
  .object({
    id: uuidSchema().describe('Also the `webhook-id` of every attempt.'),
    eventId: uuidSchema(),
    type: webhookEventTypeSchema,
    status: z.enum(deliveryStatuses),
    attempts: countSchema(),
    lastStatus: z
      .int()
      .min(100)
      .max(999)
      .nullable()
      .describe("The receiver's last HTTP status; null when it never answered."),
    lastError: messageSchema().nullable(),
    nextAttemptAt: timestampSchema().nullable().describe('When it is tried next; null unless pending.'),
    deliveredAt: timestampSchema().nullable(),
    createdAt: timestampSchema(),
  })
  .meta({ id: 'WebhookDelivery' }) satisfies z.ZodType<WebhookDeliveryView>

export const webhookDeliveriesPageSchema = z
  .object({ deliveries: z.array(webhookDeliverySchema).max(MAX_PAGE_SIZE), nextCursor: nextCursorSchema })
  .meta({ id: 'WebhookDeliveriesPage' })
