import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { pickProblems } from '../../plugins/problem-schemas.ts'
import {
  technicianAssignmentsPageSchema,
  technicianAssignmentsQuerySchema,
  techniciansPageSchema,
  techniciansQuerySchema,
} from '../../services/crew/crew-list-schemas.ts'
import {
  technicianFieldsSchema,
  technicianParamsSchema,
  technicianSchema,
} from '../../services/crew/crew-schemas.ts'
import { jsonAnswer } from '../answer.ts'

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

  app.get('/technicians', {
    config: { access: 'crew' },
    schema: {
      operationId: 'listTechnicians',
      tags: ['crew'],
      summary: 'Technicians by id, optionally those whose id or name contains `q`',
      querystring: techniciansQuerySchema,
      response: { 200: techniciansPageSchema },
    },
    handler: (request) => technicians.page(request.query),
  })

  app.get('/technicians/:technicianId/assignments', {
    config: { access: 'crew' },
    schema: {
      operationId: 'listTechnicianAssignments',
      tags: ['crew'],
      summary: 'The crew calls a technician is on, with job, department, role and roster version',
      params: technicianParamsSchema,
      querystring: technicianAssignmentsQuerySchema,
      response: { 200: technicianAssignmentsPageSchema, ...pickProblems(404) },
    },
    handler: (request) => technicians.assignments(request.params.technicianId, request.query),
  })

  app.delete('/technicians/:technicianId', {
    config: { access: 'crew' },
    schema: {
      operationId: 'deleteTechnician',
      tags: ['crew'],
      summary: 'Delete a technician who is on no roster',
      description:
        'Refused (409 naming the crew calls) while the technician is on a roster, or Flex may still hold a ' +
        'crew line of theirs: take them off those rosters and let the crew calls sync, then delete them; ' +
        'also while a sync that may be adding their line runs (409 with Retry-After).',
      params: technicianParamsSchema,
      response: { 204: z.undefined().describe('Deleted'), ...pickProblems(404, 409) },
    },
    handler: async (request, reply) => {
      await technicians.delete(request.params.technicianId)
      return reply.code(204).send(undefined)
    },
  })
}

export default technicianRoutes
