import { isRecordNotFound } from '../../db/database-errors.ts'
import type { PrismaClient } from '../../db/prisma.ts'
import { ConflictError, NotFoundError, ValidationError } from '../../errors/domain-errors.ts'
import type { WebhookDelivery, WebhookEndpoint } from '../../generated/prisma/client.ts'
import { decodeCursor, toPage } from '../pagination.ts'
import { generateWebhookSecret } from './signing.ts'
import { type SsrfGuard, UnsafeWebhookUrlError } from './ssrf-guard.ts'
import {
  type DeliveryStatus,
  type NewWebhookEndpoint,
  type WebhookDeliveryView,
  type WebhookEndpointChanges,
  type WebhookEndpointView,
  type WebhookEventType,
  webhookEventTypes,
} from './webhook-types.ts'

interface WebhookEndpointServiceDeps {
  prisma: PrismaClient
  guard: SsrfGuard
  /** WEBHOOK_SECRET_OVERLAP_MS: how long a rotated-out secret keeps signing. */
  secretOverlapMs: number
  /** Called when a delivery is due now (a manual retry), to wake this instance's workers. */
  onDue?: () => void
}

const isUuid = (value: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)

/** Webhook endpoints (receivers), their secrets, and the deliveries made to them. */
export class WebhookEndpointService {
  constructor(private readonly deps: WebhookEndpointServiceDeps) {}

  /** A new endpoint with a new secret, shown only in this answer. */
  async create(input: NewWebhookEndpoint): Promise<WebhookEndpointView & { secret: string }> {
    await this.checkUrl(input.url)
    const endpoint = await this.deps.prisma.webhookEndpoint.create({
      data: {
        url: input.url,
        // `{ set }`, not a bare array: Prisma 7 parameterizes a scalar list only so (SyncRunLog.finish).
        events: { set: input.events ?? [...webhookEventTypes] },
        description: input.description ?? null,
        secret: generateWebhookSecret(),
      },
    })
    return { ...toEndpointView(endpoint), secret: endpoint.secret }
  }

  async page(query: { limit: number; cursor?: string | undefined }) {
    const after =
      query.cursor === undefined
        ? undefined
        : decodeCursor(query.cursor, 2, ([at, id]) => !Number.isNaN(Date.parse(at ?? '')) && isUuid(id ?? ''))
    const rows = await this.deps.prisma.webhookEndpoint.findMany({
      where: after && {
        OR: [
          { createdAt: { gt: new Date(after[0] as string) } },
          { createdAt: new Date(after[0] as string), id: { gt: after[1] } },
        ],
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: query.limit + 1,
    })
    const { items, nextCursor } = toPage(rows, query.limit, (row) => [row.createdAt.toISOString(), row.id])
    return { endpoints: items.map(toEndpointView), nextCursor }
  }

  async get(id: string): Promise<WebhookEndpointView> {
    return toEndpointView(await this.find(id))
  }

  /** Changes what is given; a URL is checked again; enabling clears the reason it was disabled. */
  async update(id: string, changes: WebhookEndpointChanges): Promise<WebhookEndpointView> {
    if (changes.url !== undefined) await this.checkUrl(changes.url)
    const enabledChange =
      changes.enabled === undefined
        ? {}
        : { enabled: changes.enabled, disabledReason: changes.enabled ? null : 'disabled by hand' }
    const endpoint = await this.deps.prisma.webhookEndpoint
      .update({
        where: { id },
        data: {
          url: changes.url,
          events: changes.events && { set: changes.events },
          description: changes.description,
          ...enabledChange,
          updatedAt: new Date(),
        },
      })
      .catch((error) => this.notFoundIfMissing(error, id))
    return toEndpointView(endpoint)
  }

  /** Deletes the endpoint and its deliveries (pending ones are never sent). */
  async delete(id: string): Promise<void> {
    await this.deps.prisma.webhookEndpoint
      .delete({ where: { id } })
      .catch((error) => this.notFoundIfMissing(error, id))
  }

  /** A new secret; the current one keeps signing beside it for secretOverlapMs (both in webhook-signature). */
  async rotateSecret(id: string): Promise<{ secret: string }> {
    const current = await this.find(id)
    const secret = generateWebhookSecret()
    // Only if nobody rotated in between: a lost race would drop a secret a receiver may already hold.
    const { count } = await this.deps.prisma.webhookEndpoint.updateMany({
      where: { id, secret: current.secret },
      data: {
        secret,
        previousSecret: current.secret,
        previousSecretUntil: new Date(Date.now() + this.deps.secretOverlapMs),
        updatedAt: new Date(),
      },
    })
    if (count === 0)
      throw new ConflictError('the secret was rotated by another request just now; read it again')
    return { secret }
  }

  async deliveries(
    endpointId: string,
    query: { status?: DeliveryStatus | undefined; limit: number; cursor?: string | undefined },
  ): Promise<{ deliveries: WebhookDeliveryView[]; nextCursor: string | null }> {
    await this.find(endpointId)
    const [after] =
      query.cursor === undefined ? [] : decodeCursor(query.cursor, 1, ([seq]) => /^\d{1,19}$/.test(seq ?? ''))
    const rows = await this.deps.prisma.webhookDelivery.findMany({
      where: {
        endpointId,
        status: query.status,
        ...(after !== undefined && { eventSeq: { lt: BigInt(after) } }),
      },
      orderBy: { eventSeq: 'desc' },
      take: query.limit + 1,
    })
    const { items, nextCursor } = toPage(rows, query.limit, (row) => [String(row.eventSeq)])
    return { deliveries: items.map(toDeliveryView), nextCursor }
  }

  /** Sends a delivery again now (a failed or succeeded one too), with the same webhook-id. */
  async retryDelivery(endpointId: string, deliveryId: string): Promise<WebhookDeliveryView> {
    const now = new Date()
    const { count } = await this.deps.prisma.webhookDelivery.updateMany({
      where: { id: deliveryId, endpointId, OR: [{ leaseUntil: null }, { leaseUntil: { lt: now } }] },
      data: { status: 'pending', nextAttemptAt: now },
    })
    if (count === 0) {
      const exists = await this.deps.prisma.webhookDelivery.findFirst({
        where: { id: deliveryId, endpointId },
      })
      if (!exists) throw new NotFoundError(`no delivery ${deliveryId} of webhook endpoint ${endpointId}`)
      throw new ConflictError('the delivery is being attempted right now; read it again in a moment', {
        retryAfterSeconds: 1,
      })
    }
    this.deps.onDue?.()
    const delivery = await this.deps.prisma.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } })
    return toDeliveryView(delivery)
  }

  /** For the integrity report. */
  async problems(): Promise<{ endpointsDisabled: number; deliveriesFailed: number }> {
    const [endpointsDisabled, deliveriesFailed] = await Promise.all([
      this.deps.prisma.webhookEndpoint.count({ where: { enabled: false } }),
      this.deps.prisma.webhookDelivery.count({ where: { status: 'failed' } }),
    ])
    return { endpointsDisabled, deliveriesFailed }
  }

  private async find(id: string): Promise<WebhookEndpoint> {
    const endpoint = await this.deps.prisma.webhookEndpoint.findUnique({ where: { id } })
    if (!endpoint) throw new NotFoundError(`no webhook endpoint ${id}`)
    return endpoint
  }

  private notFoundIfMissing(error: unknown, id: string): never {
    if (isRecordNotFound(error)) throw new NotFoundError(`no webhook endpoint ${id}`)
    throw error
  }

  private async checkUrl(url: string): Promise<void> {
    try {
      await this.deps.guard.checkUrl(url)
    } catch (error) {
      if (!(error instanceof UnsafeWebhookUrlError)) throw error
      throw new ValidationError([{ in: 'body', pointer: '/url', detail: error.message }])
    }
  }
}

function toEndpointView(endpoint: WebhookEndpoint): WebhookEndpointView {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events as WebhookEventType[],
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    description: endpoint.description,
    createdAt: endpoint.createdAt.toISOString(),
  }
}

function toDeliveryView(delivery: WebhookDelivery): WebhookDeliveryView {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    type: delivery.type as WebhookEventType,
    status: delivery.status as DeliveryStatus,
    attempts: delivery.attempts,
    lastStatus: delivery.lastStatus,
    lastError: delivery.lastError,
    nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
    deliveredAt: delivery.deliveredAt?.toISOString() ?? null,
    createdAt: delivery.createdAt.toISOString(),
  }
}
