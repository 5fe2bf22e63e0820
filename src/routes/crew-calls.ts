import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { jsonAnswer } from '../schemas/answer.ts'
import { ifMatchHeadersSchema } from '../schemas/calendars.ts'
import { etag } from '../schemas/common.ts'
import {
  assignmentFieldsSchema,
  assignmentParamsSchema,
  assignmentSchema,
  crewCallFieldsSchema,
  crewCallIfMatchHeadersSchema,
  crewCallParamsSchema,
  crewCallWithRosterSchema,
  crewCallWrittenSchema,
  deleteCrewCallHeadersSchema,
  replaceRosterBodySchema,
  replaceRosterResultSchema,
  rosterSchema,
} from '../schemas/crew.ts'
import { crewCallsPageSchema, crewCallsQuerySchema } from '../schemas/crew-lists.ts'
import { pickProblems, problemResponse } from '../schemas/problem.ts'
import { rosterReadQuerySchema } from '../schemas/roster-history.ts'
import { jobParamsSchema } from '../schemas/sync.ts'
import { authorOf } from './author.ts'
import { sendRenderedJson } from './rendered-json.ts'

/** The route of one crew call, under /v1. */
export const crewCallPath = '/jobs/:jobId/crew-calls/:department'

const crewCallRoutes: FastifyPluginAsyncZod = async (app) => {
  const { crewCalls, rosters, rosterHistory } = app.services

  app.put(crewCallPath, {
    config: { access: 'crew' },
    schema: {
      operationId: 'putCrewCall',
      tags: ['crew'],
      summary: "Create or update a job's crew call for a department",
      description:
        'Answers the crew call with its version (also the ETag: its roster’s, 0 for a new one). With ' +
        'If-Match, the write happens only if the crew call is still at that version.',
      params: crewCallParamsSchema,
      headers: crewCallIfMatchHeadersSchema,
      body: crewCallFieldsSchema,
      response: {
        200: jsonAnswer('Updated (or unchanged), with its version (also the ETag)', crewCallWrittenSchema),
        201: jsonAnswer('Created, with its version (also the ETag)', crewCallWrittenSchema),
        ...pickProblems(409, 412),
      },
    },
    handler: async (request, reply) => {
      const { jobId, department } = request.params
      const { crewCall, created, version } = await crewCalls.upsert(
        jobId,
        department,
        request.body.flexElementId,
        request.headers['if-match'],
      )
      return reply
        .code(created ? 201 : 200)
        .header('etag', etag(version))
        .send({ ...crewCall, version })
    },
  })

  app.get(crewCallPath, {
    config: { access: 'crew' },
    schema: {
      operationId: 'getCrewCall',
      tags: ['crew'],
      summary: 'Read a crew call with its roster',
      params: crewCallParamsSchema,
      response: {
        200: jsonAnswer(
          'The crew call, its roster (version = ETag) and its sync state',
          crewCallWithRosterSchema,
        ),
        ...pickProblems(404),
      },
    },
    handler: async (request, reply) => {
      const crewCall = await rosters.getCrewCall(request.params)
      return reply.header('etag', etag(crewCall.version)).send(crewCall)
    },
  })

  app.delete(crewCallPath, {
    config: { access: 'crew' },
    schema: {
      operationId: 'deleteCrewCall',
      tags: ['crew'],
      summary: 'Delete a crew call with its roster and sync history',
      description:
        'Refused (409) while Flex may hold crew lines of it: empty its roster and let it sync, then delete ' +
        'it; also while a sync of it runs (409 with Retry-After). Its line-less assignments go with it.',
      params: crewCallParamsSchema,
      headers: deleteCrewCallHeadersSchema,
      response: { 204: z.undefined().describe('Deleted'), ...pickProblems(404, 409, 412) },
    },
    handler: async (request, reply) => {
      await crewCalls.delete(request.params, request.headers['if-match'])
      return reply.code(204).send(undefined)
    },
  })

  app.get('/jobs/:jobId/crew-calls', {
    config: { access: 'crew' },
    schema: {
      operationId: 'listCrewCalls',
      tags: ['crew'],
      summary: "A job's crew calls, each with its roster version and sync state",
      description: 'One page per request, by department; 404 when the job has no crew call.',
      params: jobParamsSchema,
      querystring: crewCallsQuerySchema,
      response: { 200: crewCallsPageSchema, ...pickProblems(404) },
    },
    handler: (request) => crewCalls.page(request.params.jobId, request.query),
  })

  app.get(`${crewCallPath}/assignments`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'getRoster',
      tags: ['crew'],
      summary: "Read a crew call's roster",
      description:
        'With `version`, the roster as it was at that version (kept versions only: see its history).',
      params: crewCallParamsSchema,
      querystring: rosterReadQuerySchema,
      response: {
        200: jsonAnswer('The roster, with its version (also the ETag)', rosterSchema),
        404: problemResponse(
          'No such crew call, or no such version: never reached, or no longer kept ' +
            '(type urn:rostersync:problem:version-pruned).',
        ),
      },
    },
    handler: async (request, reply) => {
      const { version } = request.query
      const roster =
        version === undefined
          ? await rosters.get(request.params)
          : await rosterHistory.at(request.params, version)
      return reply.header('etag', etag(roster.version)).send(roster)
    },
  })

  app.put(`${crewCallPath}/assignments`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'replaceRoster',
      tags: ['crew'],
      summary: "Replace a crew call's roster",
      description:
        "Atomically makes the roster exactly the given technicians, with the calendar replace's semantics: " +
        'serialized per crew call, version + ETag + If-Match, a replay is a no-op. Flex changes on the next sync.',
      params: crewCallParamsSchema,
      headers: ifMatchHeadersSchema,
      body: replaceRosterBodySchema,
      response: {
        200: jsonAnswer(
          'The replaced roster: its version (also the ETag) and what changed',
          replaceRosterResultSchema,
        ),
        ...pickProblems(404, 412),
      },
    },
    handler: async (request, reply) => {
      const result = await rosters.replace(
        request.params,
        request.body.assignments,
        request.headers['if-match'],
        authorOf(request),
      )
      return sendRenderedJson(reply.header('etag', etag(result.version)), result.json)
    },
  })

  app.put(`${crewCallPath}/assignments/:technicianId`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'putAssignment',
      tags: ['crew'],
      summary: 'Put one technician on the roster (idempotent)',
      params: assignmentParamsSchema,
      headers: ifMatchHeadersSchema,
      body: assignmentFieldsSchema,
      response: {
        200: jsonAnswer('Updated (or unchanged); the ETag is the roster version', assignmentSchema),
        201: jsonAnswer('Added to the roster; the ETag is the roster version', assignmentSchema),
        ...pickProblems(404, 412),
      },
    },
    handler: async (request, reply) => {
      const { technicianId, ...key } = request.params
      const { assignment, created, version } = await rosters.upsertOne(
        key,
        technicianId,
        request.body.role ?? null,
        request.headers['if-match'],
        authorOf(request),
      )
      return reply
        .code(created ? 201 : 200)
        .header('etag', etag(version))
        .send(assignment)
    },
  })

  app.delete(`${crewCallPath}/assignments/:technicianId`, {
    config: { access: 'crew' },
    schema: {
      operationId: 'deleteAssignment',
      tags: ['crew'],
      summary: 'Take one technician off the roster (204 also when absent)',
      params: assignmentParamsSchema,
      headers: ifMatchHeadersSchema,
      response: {
        204: z
          .undefined()
          .describe('Off the roster (also when it was not on it); the ETag is the roster version'),
        ...pickProblems(404, 412),
      },
    },
    handler: async (request, reply) => {
      const { technicianId, ...key } = request.params
      const { version } = await rosters.removeOne(
        key,
        technicianId,
        request.headers['if-match'],
        authorOf(request),
      )
      return reply.code(204).header('etag', etag(version)).send(undefined)
    },
  })
}

export default crewCallRoutes
