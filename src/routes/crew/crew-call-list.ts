import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import {
  allCrewCallsPageSchema,
  allCrewCallsQuerySchema,
} from '../../services/crew/crew-call-list-schemas.ts'
import { jsonAnswer } from '../answer.ts'

const crewCallListRoutes: FastifyPluginAsyncZod = async (app) => {
  const { crewCallList } = app.services

  app.get('/crew-calls', {
    config: { access: 'crew' },
    schema: {
      operationId: 'listAllCrewCalls',
      tags: ['crew'],
      summary: 'Every crew call across jobs, with its sync state, newest activity first',
      description:
        'Filter with `state` (e.g. `failed`) to find the crew calls that need attention; each carries its ' +
        'roster version, synced version, attempts, last error and next attempt. Paged like /v1/sync-runs.',
      querystring: allCrewCallsQuerySchema,
      response: { 200: jsonAnswer('A page of crew calls', allCrewCallsPageSchema) },
    },
    handler: (request) => crewCallList.page(request.query),
  })
}

export default crewCallListRoutes
