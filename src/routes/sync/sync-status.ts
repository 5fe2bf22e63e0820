import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { syncStatusSchema } from '../../services/sync/sync-status-schemas.ts'
import { jsonAnswer } from '../answer.ts'

const syncStatusRoutes: FastifyPluginAsyncZod = async (app) => {
  const { syncStatus } = app.services

  app.get('/sync-status', {
    config: { access: 'crew' },
    schema: {
      operationId: 'getSyncStatus',
      tags: ['sync'],
      summary: 'Crew calls per sync state, the queue, and the Flex call budget used and left',
      response: { 200: jsonAnswer('How syncing stands', syncStatusSchema) },
    },
    handler: () => syncStatus.status(),
  })
}

export default syncStatusRoutes
