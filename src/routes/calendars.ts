import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { jsonAnswer } from '../schemas/answer.ts'
import {
  calendarSetSchema,
  ifMatchHeadersSchema,
  replaceCalendarsBodySchema,
  replaceCalendarsResultSchema,
  userParamsSchema,
} from '../schemas/calendars.ts'
import { etag } from '../schemas/common.ts'
import { pickProblems } from '../schemas/problem.ts'
import { sendRenderedJson } from './rendered-json.ts'

const calendarRoutes: FastifyPluginAsyncZod = async (app) => {
  const { calendars } = app.services

  app.get('/users/:userId/calendars', {
    config: { access: 'calendar-owner' },
    schema: {
      operationId: 'getCalendars',
      tags: ['calendars'],
      summary: "Read a user's calendar set",
      description: 'A user never synced has version 0 and no calendars. The ETag is the version.',
      params: userParamsSchema,
      response: { 200: jsonAnswer('The calendar set, with its version (also the ETag)', calendarSetSchema) },
    },
    handler: async (request, reply) => {
      const set = await calendars.get(request.params.userId)
      return reply.header('etag', etag(set.version)).send(set)
    },
  })

  app.put('/users/:userId/calendars', {
    config: { access: 'calendar-owner' },
    schema: {
      operationId: 'replaceCalendars',
      tags: ['calendars'],
      summary: "Replace a user's calendar set",
      description:
        'Atomically makes the set exactly the given calendars (`[]` empties it). Replaces of one user ' +
        'are serialized; the version rises by 1 only when the set changed, so a replay is a no-op. ' +
        'With If-Match, the replace happens only if the set is still at that version.',
      params: userParamsSchema,
      headers: ifMatchHeadersSchema,
      body: replaceCalendarsBodySchema,
      response: {
        200: jsonAnswer(
          'The replaced set: its version (also the ETag) and what changed',
          replaceCalendarsResultSchema,
        ),
        ...pickProblems(412),
      },
    },
    handler: async (request, reply) => {
      const { userId } = request.params
      const answer = await calendars.replace(userId, request.body.calendars, request.headers['if-match'])
      return sendRenderedJson(reply.header('etag', etag(answer.version)), answer.json)
    },
  })
}

export default calendarRoutes
