import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { jsonAnswer } from '../schemas/answer.ts'
import { crewCallParamsSchema } from '../schemas/crew.ts'
import { pickProblems } from '../schemas/problem.ts'
import {
  jobParamsSchema,
  jobSyncResponseSchema,
  syncQuerySchema,
  syncResponseSchema,
  syncRunsPageSchema,
  syncRunsQuerySchema,
} from '../schemas/sync.ts'

const syncRoutes: FastifyPluginAsyncZod = async (app) => {
  const { sync } = app.services

  app.post('/jobs/:jobId/crew-calls/:department/sync', {
    config: { access: 'crew', takesKeyBeforeRun: true },
    schema: {
      operationId: 'syncCrewCall',
      tags: ['sync'],
      summary: 'Reconcile a crew call with Flex',
      description:
        'Makes Flex hold exactly one crew line per rostered technician and none for known technicians off the ' +
        'roster. One sync per crew call runs at a time across all instances; a second request waits for it ' +
        '(bounded, then 409 with Retry-After). `dryRun=true` returns the plan and changes nothing. 501 (flex-not-configured, ' +
        'no Retry-After) when this deployment has no Flex settings.',
      params: crewCallParamsSchema,
      querystring: syncQuerySchema,
      response: {
        200: jsonAnswer('The run (`run`), or with dryRun=true the plan (`plan`)', syncResponseSchema),
        ...pickProblems(404, 409, 501, 502),
      },
    },
    handler: (request) =>
      sync.syncCrewCall(request.params.jobId, request.params.department, { dryRun: request.query.dryRun }),
  })

  app.post('/jobs/:jobId/sync', {
    config: { access: 'crew', takesKeyBeforeRun: true },
    schema: {
      operationId: 'syncJob',
      tags: ['sync'],
      summary: 'Reconcile every crew call of a job with Flex',
      params: jobParamsSchema,
      response: {
        200: jsonAnswer('One run per crew call of the job', jobSyncResponseSchema),
        ...pickProblems(404, 409, 501),
      },
    },
    handler: async (request) => ({ runs: await sync.syncJob(request.params.jobId) }),
  })

  app.get('/sync-runs', {
    config: { access: 'crew' },
    schema: {
      operationId: 'listSyncRuns',
      tags: ['sync'],
      summary: 'Sync history, newest first',
      querystring: syncRunsQuerySchema,
      response: { 200: jsonAnswer('A page of runs, newest first', syncRunsPageSchema) },
    },
    handler: (request) => sync.listRuns(request.query),
  })
}

export default syncRoutes
