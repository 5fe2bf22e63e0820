import type { FastifyReply } from 'fastify'

/**
 * Sends a body PostgreSQL rendered as JSON text (an SQL function's answer, e.g. replace_calendar_set's):
 * with a JSON content type, Fastify sends a string as it is, without the route's serializer, so a set
 * of 10,000 calendars is neither parsed into objects nor serialized again. The function renders exactly
 * the route's response schema; the conformance test (test/helpers/conformance.ts) checks the answers
 * against the served document.
 */
export function sendRenderedJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json)
}
