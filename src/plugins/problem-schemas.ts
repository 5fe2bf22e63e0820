import { z } from 'zod'
import { MAX_MESSAGE_LENGTH } from '../schemas/common.ts'

/**
 * The bounds of a problem: the problem-details plugin cuts `detail` and `instance` and lists at most
 * MAX_FIELD_ERRORS fields at fault (the first ones; `detail` says how many there were).
 */
export const MAX_FIELD_ERRORS = 100
export const MAX_POINTER_LENGTH = 2048
const MAX_PROBLEM_TYPE_LENGTH = 256
const MAX_PROBLEM_TITLE_LENGTH = 256
export const MAX_INSTANCE_LENGTH = 2048

const fieldErrorSchema = z
  .object({
    in: z.enum(['body', 'path', 'query', 'header']).describe('The part of the request at fault.'),
    pointer: z
      .string()
      .max(MAX_POINTER_LENGTH)
      .describe('JSON pointer (RFC 6901) into that part, e.g. /calendars/3/calendarId.'),
    detail: z.string().max(MAX_MESSAGE_LENGTH),
  })
  .meta({ id: 'FieldError' })

/** RFC 9457 problem details, with the request id and (for validation) every field at fault. */
const problemSchema = z
  .object({
    type: z.string().max(MAX_PROBLEM_TYPE_LENGTH).describe('Stable URI identifying the problem type.'),
    title: z.string().max(MAX_PROBLEM_TITLE_LENGTH),
    status: z.int().min(400).max(599),
    detail: z.string().max(MAX_MESSAGE_LENGTH).optional(),
    instance: z.string().max(MAX_INSTANCE_LENGTH).optional().describe('The request path.'),
    requestId: z
      .string()
      .max(128)
      .describe('Also in the x-request-id response header and in the server log.'),
    errors: z
      .array(fieldErrorSchema)
      .max(MAX_FIELD_ERRORS)
      .optional()
      .describe(`The fields at fault, the first ${MAX_FIELD_ERRORS} when there are more.`),
  })
  .meta({ id: 'Problem' })

export type Problem = z.infer<typeof problemSchema>

export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
})

/** Error responses every route documents, keyed by status. */
const problemResponses = {
  400: problemResponse('The request is malformed; `errors` names each field at fault. Nothing was written.'),
  401: problemResponse(
    'Missing, malformed, expired or wrongly signed credentials (WWW-Authenticate: Bearer). Nothing was written.',
  ),
  403: problemResponse('The credentials do not allow this request. Nothing was written.'),
  404: problemResponse('No such resource.'),
  408: problemResponse(
    'The request did not arrive in time: its headers within HEADERS_TIMEOUT_MS, or its body within ' +
      'BODY_READ_TIMEOUT_MS in all or BODY_IDLE_TIMEOUT_MS between bytes. The connection is closed. Nothing was written.',
  ),
  409: problemResponse(
    'Conflicts with the current state, a sync of this crew call is running, or the first request with this ' +
      'Idempotency-Key is still running (the last two with Retry-After).',
  ),
  412: problemResponse('If-Match does not match the current version. Nothing was written.'),
  413: problemResponse(
    'The body is larger than the configured limit (BODY_LIMIT_BYTES). Nothing was written.',
  ),
  414: problemResponse(
    'A path segment is longer than the server accepts (4096 characters). Nothing was written.',
  ),
  415: problemResponse('The body is not application/json. Nothing was written.'),
  431: problemResponse(
    'The request line and headers are larger than the server accepts (Node.js maxHeaderSize, 16 KiB). The ' +
      'connection is closed. Nothing was written.',
  ),
  422: problemResponse(
    'The Idempotency-Key was already used, by this credential on this path, for a request with another body, ' +
      'query or If-Match (named when it is the If-Match). Nothing was written.',
  ),
  429: problemResponse('The credential spent its request budget; retry after Retry-After seconds.'),
  500: problemResponse('Unexpected error; the request id is in the log. Nothing internal is disclosed.'),
  501: problemResponse(
    'Flex is not configured on this deployment (type urn:rostersync:problem:flex-not-configured): not ' +
      'temporary, so no Retry-After; an operator sets FLEX_BASE_URL and FLEX_AUTH_TOKEN and restarts.',
  ),
  502: problemResponse('Flex failed; the sync run records why.'),
  503: problemResponse('The database is busy or restarting; retry after Retry-After seconds.'),
} as const

export function pickProblems<S extends keyof typeof problemResponses>(...statuses: S[]) {
  return Object.fromEntries(statuses.map((status) => [status, problemResponses[status]])) as Pick<
    typeof problemResponses,
    S
  >
}
