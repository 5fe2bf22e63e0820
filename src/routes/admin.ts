import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { jsonAnswer } from '../schemas/answer.ts'
import { integrityQuerySchema, integrityReportSchema } from '../schemas/integrity.ts'
import { pickProblems } from '../schemas/problem.ts'

const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  const { integrity } = app.services

  app.get('/admin/integrity', {
    config: { access: 'admin' },
    schema: {
      operationId: 'getIntegrity',
      tags: ['admin'],
      summary: 'Check the guarantees',
      description:
        'Duplicate groups for every natural key (should all be 0), crew calls whose last sync failed, and the ' +
        'last 24 hours of syncs. With checkFlex=true it also reads Flex and lists recorded crew lines Flex no ' +
        'longer has (502 when Flex cannot be read, 501 flex-not-configured when it is not configured).',
      querystring: integrityQuerySchema,
      response: { 200: jsonAnswer('The integrity report', integrityReportSchema), ...pickProblems(501, 502) },
    },
    handler: (request) => integrity.report({ checkFlex: request.query.checkFlex }),
  })
}

export default adminRoutes
