import type { FastifyRequest } from 'fastify'
import { type Principal, principalName } from '../plugins/auth/credentials.ts'
import type { Author } from '../services/history/author.ts'

/** The author of a request's write, for the history: its credential and its request id. */
export const authorOf = (request: FastifyRequest): Author => ({
  actor: principalName(request.principal as Principal),
  requestId: request.id,
})
