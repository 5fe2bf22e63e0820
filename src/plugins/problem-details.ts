import { randomUUID } from 'node:crypto'
import { maxHeaderSize, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { toDomainError } from '../db/database-errors.ts'
import {
  DomainError,
  describeFieldErrors,
  type FieldError,
  NotFoundError,
  type ProblemKind,
  ValidationError,
} from '../errors/domain-errors.ts'
import { boundedMessage } from '../schemas/common.ts'
import { JSON_MEDIA_TYPE } from './json-body.ts'
import { MAX_FIELD_ERRORS, MAX_INSTANCE_LENGTH, MAX_POINTER_LENGTH, type Problem } from './problem-schemas.ts'
import { type RefusedBodyBounds, readRestOfRefusedBody } from './refused-body.ts'

type Kind =
  | ProblemKind
  | 'malformed-request'
  | 'request-timeout'
  | 'payload-too-large'
  | 'uri-too-long'
  | 'unsupported-media-type'
  | 'header-fields-too-large'
  | 'internal'

/** Every problem type the API answers with: its stable `type` URI is `urn:rostersync:problem:<kind>`. */
const PROBLEMS: Record<Kind, { status: number; title: string }> = {
  validation: { status: 400, title: 'The request is invalid' },
  'malformed-request': { status: 400, title: 'The request could not be read' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not found' },
  'version-pruned': { status: 404, title: 'That version is no longer kept' },
  'history-gone': { status: 410, title: 'The history since that version is no longer kept' },
  conflict: { status: 409, title: 'Conflict' },
  'idempotency-key-in-use': { status: 409, title: 'A request with this idempotency key is still running' },
  'precondition-failed': { status: 412, title: 'The resource has changed' },
  'request-timeout': { status: 408, title: 'The request did not arrive in time' },
  'payload-too-large': { status: 413, title: 'The body is too large' },
  'uri-too-long': { status: 414, title: 'The URL is too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'idempotency-key-reused': { status: 422, title: 'The idempotency key was used for another request' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'header-fields-too-large': { status: 431, title: 'The request line and headers are too large' },
  internal: { status: 500, title: 'Internal server error' },
  'flex-not-configured': { status: 501, title: 'Flex is not configured' },
  upstream: { status: 502, title: 'An upstream service failed' },
  'service-unavailable': { status: 503, title: 'Service temporarily unavailable' },
}

const problemType = (kind: Kind) => `urn:rostersync:problem:${kind}`

/** Unknown routes: thrown, so the error handler renders them like every other problem. */
export async function notFoundHandler(request: FastifyRequest): Promise<never> {
  throw new NotFoundError(`no route for ${request.method} ${request.url.split('?')[0]}`)
}

const VALIDATION_CONTEXTS: Record<string, FieldError['in']> = {
  body: 'body',
  params: 'path',
  querystring: 'query',
  headers: 'header',
}

interface Classified {
  kind: Kind
  detail?: string
  errors?: FieldError[]
  retryAfterSeconds?: number
}

/** Decides what the client sees for any error: a domain error, a database failure, Fastify's own. */
function classify(error: FastifyError): Classified {
  if (error instanceof ValidationError)
    return { kind: 'validation', detail: error.message, errors: error.errors }
  if (error instanceof DomainError) {
    return { kind: error.kind, detail: error.message, retryAfterSeconds: error.retryAfterSeconds }
  }
  if (error.validation) {
    const errors = fieldErrors(error)
    return { kind: 'validation', detail: describeFieldErrors(errors), errors }
  }
  const fromDatabase = toDomainError(error)
  if (fromDatabase) return { kind: fromDatabase.kind, detail: fromDatabase.message }
  const status = error.statusCode ?? 500
  if (status === 413) return { kind: 'payload-too-large', detail: error.message }
  if (status === 414)
    return { kind: 'uri-too-long', detail: 'a path segment is longer than the server accepts' }
  if (status === 415) return { kind: 'unsupported-media-type', detail: error.message }
  if (status >= 400 && status < 500) return { kind: 'malformed-request', detail: error.message }
  return { kind: 'internal' }
}

function fieldErrors(error: FastifyError): FieldError[] {
  const where = VALIDATION_CONTEXTS[error.validationContext ?? 'body'] ?? 'body'
  if (!hasZodFastifySchemaValidationErrors(error)) {
    return (error.validation ?? []).map((v) => ({
      in: where,
      pointer: v.instancePath,
      detail: v.message ?? 'invalid',
    }))
  }
  return error.validation.flatMap((issue) => {
    const pointer = issue.instancePath === '/' ? '' : issue.instancePath
    const keys = (issue.params as { keys?: string[] }).keys
    if (issue.keyword === 'unrecognized_keys' && keys) {
      return keys.map((key) => ({
        in: where,
        pointer: `${pointer}/${escapePointer(key)}`,
        detail: 'unknown field',
      }))
    }
    return [{ in: where, pointer, detail: issue.message ?? 'invalid' }]
  })
}

/** The detail, saying how many fields are at fault when `errors` lists only the first MAX_FIELD_ERRORS. */
function problemDetail({ detail = '', errors }: Classified): string {
  if (!errors || errors.length <= MAX_FIELD_ERRORS) return detail
  return `${errors.length} fields at fault, the first ${MAX_FIELD_ERRORS} listed in errors: ${detail}`
}

/** The longest Retry-After the server sends (a day): every one is clamped to it, as the document declares. */
export const MAX_RETRY_AFTER_SECONDS = 86_400

/** The first MAX_FIELD_ERRORS fields at fault, each pointer and detail within the Problem schema's bounds. */
function boundedFieldErrors(errors: FieldError[]): FieldError[] {
  return errors.slice(0, MAX_FIELD_ERRORS).map((error) => ({
    ...error,
    pointer: boundedMessage(error.pointer, MAX_POINTER_LENGTH),
    detail: boundedMessage(error.detail),
  }))
}

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1')

/** Renders a classified error as problem+json; 503s without their own Retry-After get `retryAfterSeconds`. */
function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  classified: Classified,
  retryAfterSeconds?: number,
) {
  const { status, title } = PROBLEMS[classified.kind]
  const problem: Problem = {
    type: problemType(classified.kind),
    title,
    status,
    ...(classified.detail ? { detail: boundedMessage(problemDetail(classified)) } : {}),
    instance: boundedMessage(request.url.split('?')[0] ?? '', MAX_INSTANCE_LENGTH),
    requestId: request.id,
    ...(classified.errors ? { errors: boundedFieldErrors(classified.errors) } : {}),
  }
  const retryAfter =
    classified.retryAfterSeconds ??
    (classified.kind === 'service-unavailable' ? retryAfterSeconds : undefined)
  if (retryAfter !== undefined)
    reply.header('retry-after', String(Math.min(Math.max(0, retryAfter), MAX_RETRY_AFTER_SECONDS)))
  return reply.code(status).type('application/problem+json').send(problem)
}

/**
 * For Fastify's `frameworkErrors`: URLs the router refuses before any route (malformed
 * percent-encoding, a segment over maxParamLength) reach no error handler, so they are rendered here.
 */
export function sendFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id)
  return sendProblem(request, reply, classify(error))
}

/**
 * How a failed request is logged, besides its completion line: an unexpected error at error with its
 * stack; a refusal our own code decided (a DomainError: Flex not configured, the call budget spent) at
 * info, one line without a stack, since nothing is broken; Flex failing (502) at warn, also without a
 * stack (its message says which call and why); a database that is busy or unreachable (a classified
 * 503) at warn with the error. 4xx answers are the caller's business: the completion line has them.
 */
function logRefusal(
  request: FastifyRequest,
  error: Error,
  kind: string,
  status: number,
  detail: string | undefined,
): void {
  if (status === 500) request.log.error({ err: error }, 'unexpected error')
  else if (status < 500) return
  else if (error instanceof DomainError)
    request.log[kind === 'upstream' ? 'warn' : 'info']({ problem: kind, status }, detail ?? error.message)
  else request.log.warn({ err: error }, detail ?? 'service unavailable')
}

/** Node's refusals of a request it could not read (its `clientError` codes), as problems. */
const CLIENT_ERRORS: Record<string, Classified> = {
  HPE_HEADER_OVERFLOW: {
    kind: 'header-fields-too-large',
    detail: `the request line and headers exceed ${maxHeaderSize} bytes: shorten the URL (its query) or the headers (a token)`,
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    kind: 'payload-too-large',
    detail: 'the chunk extensions of the body are too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    kind: 'request-timeout',
    detail:
      'the request did not arrive within HEADERS_TIMEOUT_MS (headers) or the request timeout; send it again whole',
  },
}

/**
 * For Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses before Fastify sees it (a
 * header section over maxHeaderSize: 431; a malformed request line or header: 400; too large chunk
 * extensions: 413; a request not received in time: 408) is answered as problem+json, like every other
 * error, when the socket can still take an answer; then the connection is closed once the answer is written.
 */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const classified = (error.code && CLIENT_ERRORS[error.code]) || {
    kind: 'malformed-request' as const,
    detail: `the request could not be read as HTTP/1.1 (${error.code ?? 'parse error'})`,
  }
  const { status, title } = PROBLEMS[classified.kind]
  const requestId = randomUUID()
  this.log.debug({ err: error, requestId }, `client error: ${status}`)
  if (socket.writable) {
    const problem: Problem = {
      type: problemType(classified.kind),
      title,
      status,
      detail: classified.detail,
      requestId,
    }
    const body = JSON.stringify(problem)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroySoon()
}

interface ProblemDetailsPluginOptions extends RefusedBodyBounds {
  retryAfterSeconds: number
  /** BODY_LIMIT_BYTES, named in the 413's detail. */
  bodyLimitBytes: number
}

/** Refusals of a body that may not have been read (whole): its client must still get to read the answer. */
const BODY_REFUSALS = new Set([413, 415, 503])

const MIB = 1024 * 1024

/** What a 413 says: the limit, in bytes and MiB, by the setting's name, and what to send instead. */
function tooLargeDetail(request: FastifyRequest, bodyLimitBytes: number): string {
  const declared = Number(request.headers['content-length'])
  const size = Number.isSafeInteger(declared)
    ? `${declared} bytes (Content-Length)`
    : 'more than that (chunked)'
  const mib = Number((bodyLimitBytes / MIB).toPrecision(3))
  return (
    `the body is ${size}; the limit is ${bodyLimitBytes} bytes (${mib} MiB, BODY_LIMIT_BYTES): ` +
    `send a body of at most ${bodyLimitBytes} bytes`
  )
}

/** What a 415 says: the media type sent, and the one to send. */
function unsupportedMediaTypeDetail(request: FastifyRequest): string {
  const sent = request.headers['content-type']
  return (
    `${sent ? `the body's media type "${sent}" is not accepted` : 'the body has no Content-Type'}: ` +
    `send JSON, with Content-Type: ${JSON_MEDIA_TYPE}`
  )
}

/**
 * One error handler for the whole API: every failure becomes an RFC 9457 application/problem+json
 * with a stable type URI and the request id. 5xx bodies never carry internals; the error itself is
 * logged with the request id.
 */
export default fp<ProblemDetailsPluginOptions>(
  async function errorsPlugin(app, { retryAfterSeconds, bodyLimitBytes, drainBytes, lingerMs }) {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const classified = classify(error)
      const status = PROBLEMS[classified.kind].status
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        classified.detail = tooLargeDetail(request, bodyLimitBytes)
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
        classified.detail = unsupportedMediaTypeDetail(request)
      if (BODY_REFUSALS.has(status)) {
        // Fastify closes the connection after a body its parser refused; refused-body.ts closes it only
        // once the client has had the time to read this answer.
        if (reply.getHeader('connection') === 'close') reply.removeHeader('connection')
        readRestOfRefusedBody(request.raw, reply.raw, { drainBytes, lingerMs })
      }
      logRefusal(request, error, classified.kind, status, classified.detail)
      if (error instanceof DomainError) reply.headers(error.headers())
      return sendProblem(request, reply, classified, retryAfterSeconds)
    })

    app.setNotFoundHandler(notFoundHandler)
  },
  { name: 'problem-details' },
)
