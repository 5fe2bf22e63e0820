import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { jsonAnswer } from '../schemas/answer.ts'
import { ifMatchHeadersSchema } from '../schemas/calendars.ts'
import { etag } from '../schemas/common.ts'
import { crewCallParamsSchema, replaceRosterResultSchema } from '../schemas/crew.ts'
import { pickProblems, problemResponse } from '../schemas/problem.ts'
import {
  restoreRosterBodySchema,
  rosterChangesQuerySchema,
  rosterChangesSchema,
  rosterHistoryPageSchema,
  rosterHistoryQuerySchema,
} from '../schemas/roster-history.ts'
import { authorOf } from './author.ts'
import { crewCallPath } from './crew-calls.ts'
import { sendRenderedJson } from './rendered-json.ts'

/** A roster's history: its versions, the changes since one, and restoring one. */
const rosterHistoryRoutes: FastifyPluginAsyncZod = async (app) => {
  const { rosters, rosterHistory } = app.services

  app.get(`${crewCallPath}/assignments/history`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'getRosterHistory',
      tags: ['crew'],
      summary: "The versions of a crew call's roster",
      description:
        'Newest first, each with what changed, who changed it (the credential), the request and the time. ' +
        'Kept like calendar history (HISTORY_KEEP_VERSIONS, HISTORY_KEEP_DAYS).',
      params: crewCallParamsSchema,
      querystring: rosterHistoryQuerySchema,
      response: {
        200: jsonAnswer('A page of versions, newest first', rosterHistoryPageSchema),
        ...pickProblems(404),
      },
    },
    handler: (request) => rosterHistory.history(request.params, request.query),
  })

  app.get(`${crewCallPath}/assignments/changes`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'getRosterChanges',
      tags: ['crew'],
      summary: 'What changed in a roster since a version',
      description:
        'Applying `created`, `updated` and `deleted` to a copy at `since` yields the current roster; ' +
        '`version` is the next `since`. 410 when the history since then is no longer kept.',
      params: crewCallParamsSchema,
      querystring: rosterChangesQuerySchema,
      response: {
        200: jsonAnswer('The net changes since `since`, and the current version', rosterChangesSchema),
        410: problemResponse(
          'The history since `since` is no longer kept (type urn:rostersync:problem:history-gone): read the ' +
            'whole roster.',
        ),
        ...pickProblems(404),
      },
    },
    handler: (request) => rosterHistory.changesSince(request.params, request.query.since),
  })

  app.post(`${crewCallPath}/assignments/restore`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'restoreRoster',
      tags: ['crew'],
      summary: 'Restore a kept version of a roster',
      description:
        'Makes the roster equal to the given version’s, as a new version recorded as a restore: a roster ' +
        'change like any, serialized per crew call and synced to Flex. Answers like a replace; 409 when ' +
        'that version names a technician deleted since.',
      params: crewCallParamsSchema,
      headers: ifMatchHeadersSchema,
      body: restoreRosterBodySchema,
      response: {
        200: jsonAnswer(
          'The restored roster: its new version (also the ETag) and what changed',
          replaceRosterResultSchema,
        ),
        404: problemResponse(
          'No such crew call, or no such version: never reached, or no longer kept ' +
            '(type urn:rostersync:problem:version-pruned).',
        ),
        ...pickProblems(412),
      },
    },
    handler: async (request, reply) => {
      const result = await rosters.restore(
        request.params,
        request.body.version,
        request.headers['if-match'],
        authorOf(request),
      )
      return sendRenderedJson(reply.header('etag', etag(result.version)), result.json)
    },
  })
}

export default rosterHistoryRoutes
