import type { z } from 'zod'

/**
 * A route's JSON answer with the description the OpenAPI document gives it (without one, @fastify/swagger
 * writes "Default Response"). Fastify serializes it with `schema` like a bare response schema.
 */
export const jsonAnswer = <S extends z.ZodType>(description: string, schema: S) => ({
  description,
  content: { 'application/json': { schema } },
})
