import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { takeJsonBody } from '../../plugins/json-body.ts'
import { pickProblems, problemResponse } from '../../plugins/problem-schemas.ts'
import { etag } from '../../schemas/common.ts'
import {
  calendarChangesQuerySchema,
  calendarChangesSchema,
  calendarHistoryPageSchema,
  calendarHistoryQuerySchema,
  calendarsReadQuerySchema,
  restoreCalendarsBodySchema,
} from '../../services/calendars/calendar-history-schemas.ts'
import {
  calendarSetSchema,
  ifMatchHeadersSchema,
  replaceCalendarsBodySchema,
  replaceCalendarsResultSchema,
  userParamsSchema,
} from '../../services/calendars/calendar-schemas.ts'
import { jsonAnswer } from '../answer.ts'
import { sendRenderedJson } from '../rendered-json.ts'
import { authorOf } from '../request-author.ts'

const calendarRoutes: FastifyPluginAsyncZod = async (app) => {
  const { calendars, calendarHistory } = app.services

  app.get('/users/:userId/calendars', {
    config: { access: 'calendar-owner' },
    schema: {
      operationId: 'getCalendars',
      tags: ['calendars'],
      summary: "Read a user's calendar set",
      description:
        'A user never synced has version 0 and no calendars. The ETag is the version. With `version`, ' +
        'the set as it was at that version (kept versions only: see the history).',
      params: userParamsSchema,
      querystring: calendarsReadQuerySchema,
      response: {
        200: jsonAnswer('The calendar set, with its version (also the ETag)', calendarSetSchema),
        404: problemResponse(
          'No such version: never reached, or no longer kept (type urn:rostersync:problem:version-pruned).',
        ),
      },
    },
    handler: async (request, reply) => {
      const { userId } = request.params
      const { version } = request.query
      const set =
        version === undefined ? await calendars.get(userId) : await calendarHistory.setAt(userId, version)
      return reply.header('etag', etag(set.version)).send(set)
    },
  })

  app.put('/users/:userId/calendars', {
    // The body goes to PostgreSQL as the bytes the client sent (takeJsonBody).
    config: { access: 'calendar-owner', keepsJsonBody: true },
    schema: {
      operationId: 'replaceCalendars',
      tags: ['calendars'],
      summary: "Replace a user's calendar set",
      description:
        'Atomically makes the set exactly the given calendars (`[]` empties it). Replaces of one user ' +
        'are serialized; the version rises by 1 only when the set changed, so a replay is a no-op. ' +
        'With If-Match, the replace happens only if the set is still at that version. Every change is ' +
        'recorded in the set’s history.',
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
      const answer = await calendars.replace(
        userId,
        takeJsonBody(request),
        request.headers['if-match'],
        authorOf(request),
      )
      return sendRenderedJson(reply.header('etag', etag(answer.version)), answer.json)
    },
  })

  app.get('/users/:userId/calendars/history', {
    config: { access: 'calendar-owner' },
    schema: {
      operationId: 'getCalendarHistory',
      tags: ['calendars'],
      summary: "The versions of a user's calendar set",
      description:
        'Newest first, each with what changed, who changed it (the credential), the request and the time. ' +
        'Versions are kept HISTORY_KEEP_VERSIONS per user and at least HISTORY_KEEP_DAYS.',
      params: userParamsSchema,
      querystring: calendarHistoryQuerySchema,
      response: { 200: jsonAnswer('A page of versions, newest first', calendarHistoryPageSchema) },
    },
    handler: (request) => calendarHistory.history(request.params.userId, request.query),
  })

  app.get('/users/:userId/calendars/changes', {
    config: { access: 'calendar-owner' },
    schema: {
      operationId: 'getCalendarChanges',
      tags: ['calendars'],
      summary: 'What changed in a calendar set since a version',
      description:
        'For a client that keeps a copy: applying `created`, `updated` and `deleted` to its copy at ' +
        '`since` yields the current set; `version` is the next `since`. 410 when the history since ' +
        'then is no longer kept: re-read the whole set.',
      params: userParamsSchema,
      querystring: calendarChangesQuerySchema,
      response: {
        200: jsonAnswer('The net changes since `since`, and the current version', calendarChangesSchema),
        410: problemResponse(
          'The history since `since` is no longer kept (type urn:rostersync:problem:history-gone): read the ' +
            'whole set, then ask for changes since its version.',
        ),
      },
    },
    handler: (request) => calendarHistory.changesSince(request.params.userId, request.query.since),
  })

  app.post('/users/:userId/calendars/restore', {
    config: { access: 'calendar-owner' },
    schema: {
      operationId: 'restoreCalendars',
      tags: ['calendars'],
      summary: 'Restore a kept version of a calendar set',
      description:
        'Makes the set equal to the given version’s, as a new version recorded as a restore, atomically ' +
        'and serialized like a replace, and answers like a replace.',
      params: userParamsSchema,
      headers: ifMatchHeadersSchema,
      body: restoreCalendarsBodySchema,
      response: {
        200: jsonAnswer(
          'The restored set: its new version (also the ETag) and what changed',
          replaceCalendarsResultSchema,
        ),
        404: problemResponse(
          'No such version: never reached, or no longer kept (type urn:rostersync:problem:version-pruned).',
        ),
        ...pickProblems(412),
      },
    },
    handler: async (request, reply) => {
      const { userId } = request.params
      const answer = await calendars.restore(
        userId,
        request.body.version,
        request.headers['if-match'],
        authorOf(request),
      )
      return sendRenderedJson(reply.header('etag', etag(answer.version)), answer.json)
    },
  })
}

export default calendarRoutes
