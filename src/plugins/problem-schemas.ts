import { z } from 'zod'

const fieldErrorSchema = z
  .object({
    in: z.enum(['body', 'path', 'query', 'header']).describe('The part of the request at fault.'),
    pointer: z.string().describe('JSON pointer (RFC 6901) into that part, e.g. /calendars/3/calendarId.'),
    detail: z.string(),
  })
  .meta({ id: 'FieldError' })

/** RFC 9457 problem details, with the request id and (for validation) every field at fault. */
const problemSchema = z
  .object({
    type: z.string().describe('Stable URI identifying the problem type.'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional().describe('The request path.'),
    requestId: z.string().describe('Also in the x-request-id response header and in the server log.'),
    errors: z.array(fieldErrorSchema).optional(),
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
  422: problemResponse(
    'The Idempotency-Key was already used, by this credential on this path, for a request with another body ' +
      'or query. Nothing was written.',
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
