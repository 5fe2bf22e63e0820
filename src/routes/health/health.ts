import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ServiceUnavailableError } from '../../errors/domain-errors.ts'
import { PUBLIC_SECURITY } from '../../plugins/openapi.ts'
import { pickProblems } from '../../plugins/problem-schemas.ts'
import { jsonAnswer } from '../answer.ts'

const statusSchema = z.object({ status: z.literal('ok') })

const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/health/live', {
    schema: {
      operationId: 'getLiveness',
      tags: ['health'],
      security: PUBLIC_SECURITY,
      summary: 'The process is up',
      response: { 200: jsonAnswer('The process is up', statusSchema) },
    },
    handler: async () => ({ status: 'ok' as const }),
  })

  app.get('/health/ready', {
    schema: {
      operationId: 'getReadiness',
      tags: ['health'],
      security: PUBLIC_SECURITY,
      summary: 'The database is reachable and every migration is applied',
      response: { 200: jsonAnswer('Ready to serve', statusSchema), ...pickProblems(503) },
    },
    handler: async () => {
      if (app.drain.draining)
        throw new ServiceUnavailableError(
          'this instance is shutting down: it answers the requests it gets until it stops listening; send new ones to another instance',
        )
      const pending = await app.db.pendingMigrations().catch((error: unknown) => {
        throw new ServiceUnavailableError('the database is not reachable or not migrated', { cause: error })
      })
      if (pending.length > 0)
        throw new ServiceUnavailableError(`migrations not applied: ${pending.join(', ')}`)
      return { status: 'ok' as const }
    },
  })
}

export default healthRoutes
