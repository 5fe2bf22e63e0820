/** The media type of every error answer (RFC 9457); the service sends it with `; charset=utf-8`. */
export const PROBLEM_JSON = 'application/problem+json'

/** A problem answer's Content-Type header, for `t.match(response.headers['content-type'], ...)`. */
export const PROBLEM_CONTENT_TYPE = /^application\/problem\+json/

/** Whether a Content-Type header value is a problem answer's. */
export function isProblemContentType(value: unknown): value is string {
  return typeof value === 'string' && PROBLEM_CONTENT_TYPE.test(value)
}
