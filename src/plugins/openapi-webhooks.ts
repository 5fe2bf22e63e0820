/**
 * The OpenAPI 3.1 `webhooks` of the document: one POST per event type, its body generated from the zod
 * schema the delivery worker parses every payload with (src/services/webhooks/webhook-types.ts), so the
 * document and what receivers get cannot drift; with the Standard Webhooks headers every attempt carries.
 */
import { z } from 'zod'
import {
  type WebhookEventType,
  webhookEventSchema,
  webhookEventTypes,
} from '../services/webhooks/webhook-types.ts'

type Json = Record<string, unknown>
type Document = Json & { components?: Json & { schemas?: Record<string, Json> } }

const SUMMARIES: Record<WebhookEventType, string> = {
  'calendar-set.changed': "A user's calendar set changed: one event per version",
  'roster.changed': "A crew call's roster changed: one event per version",
  'crew-sync.finished': 'A sync run of a crew call finished',
  'crew-call.sync-failed': 'Autonomous sync of a crew call gave up',
}

/** The component name of an event's body: calendar-set.changed -> CalendarSetChangedEvent. */
export const webhookComponentName = (type: WebhookEventType) =>
  `${type
    .split(/[.-]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}Event`

/** Unix seconds as text: ten digits until 2286. */
const UNIX_SECONDS = { type: 'string', pattern: '^[0-9]{1,12}$', maxLength: 12 }

const HEADERS: Record<string, Json> = {
  WebhookId: {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description:
      "The delivery's id, the same for every attempt of one event to one endpoint: deduplicate by it.",
    schema: { type: 'string', format: 'uuid', maxLength: 36 },
  },
  WebhookTimestamp: {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description: 'When this attempt was signed, in Unix seconds: refuse one more than 5 minutes off.',
    schema: UNIX_SECONDS,
  },
  WebhookSignature: {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description:
      '`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` keyed with the base64-decoded ' +
      "bytes of the endpoint's secret after `whsec_`; two, space-separated, while a rotated secret's " +
      'overlap (WEBHOOK_SECRET_OVERLAP_MS) lasts: accept the request when one matches.',
    schema: {
      type: 'string',
      maxLength: 256,
      pattern: '^v1,[A-Za-z0-9+/=]{1,88}( v1,[A-Za-z0-9+/=]{1,88})?$',
    },
  },
}

const RESPONSES: Json = {
  '200': { description: 'Received. Any 2xx ends the retries of this delivery.' },
  '410': {
    description: 'Gone: the endpoint is disabled (`enabled: false`, with the reason); nothing more is sent.',
  },
  '429': {
    description:
      'Too many requests: tried again after Retry-After (also honoured on 502, 503 and 504). Any other ' +
      'answer, a redirect, or none within WEBHOOK_TIMEOUT_MS is retried on WEBHOOK_RETRY_SCHEDULE_MS.',
    headers: {
      'Retry-After': {
        description: 'Seconds to wait, or an HTTP date (at most a day is taken).',
        schema: { type: 'string', maxLength: 64 },
      },
    },
  },
}

/** An event's body as JSON Schema (draft 2020-12, which OpenAPI 3.1 uses), from its zod schema. */
function bodySchema(type: WebhookEventType): Json {
  const { $schema: _, ...schema } = z.toJSONSchema(webhookEventSchema(type), { io: 'output' }) as Json
  return { ...schema, description: `The body of every \`${type}\` delivery.` }
}

/** The document with its `webhooks`, their body schemas and header parameters in components. */
export function withWebhooks<T extends Document>(document: T): T {
  const components = document.components ?? {}
  const schemas: Record<string, Json> = { ...components.schemas }
  const webhooks: Record<string, Json> = {}
  for (const type of webhookEventTypes) {
    schemas[webhookComponentName(type)] = bodySchema(type)
    webhooks[type] = {
      post: {
        operationId: `webhook${webhookComponentName(type).replace(/Event$/, '')}`,
        summary: SUMMARIES[type],
        description:
          'Sent to every enabled endpoint subscribed to this type, at least once, signed (Standard ' +
          'Webhooks 1.0). Verify with `verifyWebhook` of the SDK; order by `data.version` where it has one.',
        tags: ['webhooks'],
        security: [],
        parameters: Object.keys(HEADERS).map((name) => ({ $ref: `#/components/parameters/${name}` })),
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { $ref: `#/components/schemas/${webhookComponentName(type)}` } },
          },
        },
        responses: RESPONSES,
      },
    }
  }
  return {
    ...document,
    webhooks,
    components: { ...components, schemas, parameters: { ...(components.parameters as Json), ...HEADERS } },
  }
}
