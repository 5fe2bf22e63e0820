import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { pickProblems } from '../../plugins/problem-schemas.ts'
import { jsonAnswer } from '../answer.ts'
import {
  createdWebhookEndpointSchema,
  createWebhookEndpointSchema,
  rotatedSecretSchema,
  updateWebhookEndpointSchema,
  webhookDeliveriesPageSchema,
  webhookDeliveriesQuerySchema,
  webhookDeliveryParamsSchema,
  webhookDeliverySchema,
  webhookEndpointParamsSchema,
  webhookEndpointSchema,
  webhookEndpointsPageSchema,
  webhookEndpointsQuerySchema,
} from './webhook-schemas.ts'

const webhookEndpointRoutes: FastifyPluginAsyncZod = async (app) => {
  const { webhookEndpoints } = app.services
  const tags = ['webhooks']

  app.post('/webhook-endpoints', {
    config: { access: 'admin' },
    schema: {
      operationId: 'createWebhookEndpoint',
      tags,
      summary: 'Subscribe a receiver to signed webhooks',
      description:
        'Answers the endpoint with its `secret`, shown only here. A URL that is not https or does not resolve ' +
        'to a public address is a 400 naming /url.',
      body: createWebhookEndpointSchema,
      response: { 201: jsonAnswer('Created', createdWebhookEndpointSchema) },
    },
    handler: async (request, reply) => reply.code(201).send(await webhookEndpoints.create(request.body)),
  })

  app.get('/webhook-endpoints', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listWebhookEndpoints',
      tags,
      summary: 'Webhook endpoints, oldest first',
      querystring: webhookEndpointsQuerySchema,
      response: { 200: webhookEndpointsPageSchema },
    },
    handler: (request) => webhookEndpoints.page(request.query),
  })

  app.get('/webhook-endpoints/:id', {
    config: { access: 'admin' },
    schema: {
      operationId: 'getWebhookEndpoint',
      tags,
      summary: 'Read a webhook endpoint',
      params: webhookEndpointParamsSchema,
      response: { 200: jsonAnswer('The endpoint', webhookEndpointSchema), ...pickProblems(404) },
    },
    handler: (request) => webhookEndpoints.get(request.params.id),
  })

  app.patch('/webhook-endpoints/:id', {
    config: { access: 'admin' },
    schema: {
      operationId: 'updateWebhookEndpoint',
      tags,
      summary: 'Change a webhook endpoint',
      description: '`enabled: true` resumes an endpoint a 410 disabled; the deliveries that waited go out.',
      params: webhookEndpointParamsSchema,
      body: updateWebhookEndpointSchema,
      response: { 200: jsonAnswer('The endpoint', webhookEndpointSchema), ...pickProblems(404) },
    },
    handler: (request) => webhookEndpoints.update(request.params.id, request.body),
  })

  app.delete('/webhook-endpoints/:id', {
    config: { access: 'admin' },
    schema: {
      operationId: 'deleteWebhookEndpoint',
      tags,
      summary: 'Delete a webhook endpoint and its deliveries',
      params: webhookEndpointParamsSchema,
      response: { 204: z.undefined().describe('Deleted'), ...pickProblems(404) },
    },
    handler: async (request, reply) => {
      await webhookEndpoints.delete(request.params.id)
      return reply.code(204).send(undefined)
    },
  })

  app.post('/webhook-endpoints/:id/rotate-secret', {
    config: { access: 'admin' },
    schema: {
      operationId: 'rotateWebhookSecret',
      tags,
      summary: 'Replace the signing secret',
      description:
        'The old secret keeps signing beside the new one for WEBHOOK_SECRET_OVERLAP_MS: both signatures are in ' +
        'one webhook-signature header, so the receiver can switch at its own pace.',
      params: webhookEndpointParamsSchema,
      response: { 200: jsonAnswer('The new secret', rotatedSecretSchema), ...pickProblems(404, 409) },
    },
    handler: (request) => webhookEndpoints.rotateSecret(request.params.id),
  })

  app.get('/webhook-endpoints/:id/deliveries', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listWebhookDeliveries',
      tags,
      summary: "An endpoint's deliveries, newest event first",
      params: webhookEndpointParamsSchema,
      querystring: webhookDeliveriesQuerySchema,
      response: { 200: webhookDeliveriesPageSchema, ...pickProblems(404) },
    },
    handler: (request) => webhookEndpoints.deliveries(request.params.id, request.query),
  })

  app.post('/webhook-endpoints/:id/deliveries/:deliveryId/retry', {
    config: { access: 'admin' },
    schema: {
      operationId: 'retryWebhookDelivery',
      tags,
      summary: 'Send a delivery again now',
      description:
        'A failed (or delivered) one too, with the same webhook-id. 409 with Retry-After while an attempt of it ' +
        'is in flight. An endpoint that is disabled sends it once it is enabled again.',
      params: webhookDeliveryParamsSchema,
      response: {
        200: jsonAnswer('The delivery, pending', webhookDeliverySchema),
        ...pickProblems(404, 409),
      },
    },
    handler: (request) => webhookEndpoints.retryDelivery(request.params.id, request.params.deliveryId),
  })
}

export default webhookEndpointRoutes
