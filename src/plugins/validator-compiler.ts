import type { FastifySchemaCompiler } from 'fastify'
import { validatorCompiler } from 'fastify-type-provider-zod'
import type { z } from 'zod'
import { fastAcceptOf } from '../schemas/fast-accept.ts'

/**
 * fastify-type-provider-zod's validator compiler, with a schema's fast check (src/schemas/fast-accept.ts)
 * first when it has one: data the check accepts passes as it is, anything else goes through zod, whose
 * answer (the value, or the issues the problem names) is the only one a client ever sees.
 */
export const fastAcceptValidatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const validate = validatorCompiler(route)
  const accept = fastAcceptOf(route.schema)
  if (!accept) return validate
  return (data) => (accept(data) ? { value: data } : validate(data))
}
