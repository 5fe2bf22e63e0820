import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { jsonAnswer } from '../schemas/answer.ts'
import { technicianFieldsSchema, technicianParamsSchema, technicianSchema } from '../schemas/crew.ts'
import { pickProblems } from '../schemas/problem.ts'

const technicianRoutes: FastifyPluginAsyncZod = async (app) => {
  const { technicians } = app.services

  app.put('/technicians/:technicianId', {
    config: { access: 'crew' },
    schema: {
      operationId: 'putTechnician',
      tags: ['crew'],
      summary: 'Create or update a technician',
      description: 'A Flex resource belongs to one technician (409 otherwise).',
      params: technicianParamsSchema,
      body: technicianFieldsSchema,
      response: {
        200: jsonAnswer('Updated (or unchanged)', technicianSchema),
        201: jsonAnswer('Created', technicianSchema),
        ...pickProblems(409),
      },
    },
    handler: async (request, reply) => {
      const { technician, created } = await technicians.upsert(request.params.technicianId, request.body)
      return reply.code(created ? 201 : 200).send(technician)
    },
  })

  app.get('/technicians/:technicianId', {
    config: { access: 'crew' },
    schema: {
      operationId: 'getTechnician',
      tags: ['crew'],
      summary: 'Read a technician',
      params: technicianParamsSchema,
      response: { 200: jsonAnswer('The technician', technicianSchema), ...pickProblems(404) },
    },
    handler: (request) => technicians.get(request.params.technicianId),
  })
}

export default technicianRoutes
