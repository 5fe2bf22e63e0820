/**
 * The rostersync SDK: openapi-fetch over the types openapi-typescript generates from the server's
 * OpenAPI document (./schema.d.ts, regenerated with `npm run sdk`; never edit it by hand), plus typed
 * access to the headers the API relies on (ETag, Retry-After, Idempotent-Replayed) and a typed
 * ProblemError.
 *
 *   const api = createRostersyncClient({ baseUrl: 'http://127.0.0.1:3000', token })
 *   const { data, error, response } = await api.GET('/v1/users/{userId}/calendars', {
 *     params: { path: { userId: 'alice' } },
 *   })
 *   const { set, version, etag } = await api.replaceCalendars('alice', calendars, { ifMatch: version })
 *
 * The raw calls (GET, PUT, POST, DELETE) resolve (they reject only when fetch itself does, e.g. the
 * server is unreachable) with `data` typed by the 2xx response, or `error` typed as the Problem (RFC 9457
 * application/problem+json) the server answers with, and the raw `response`; `answerHeaders(response)`
 * reads its headers, typed. `unwrap(call)` and the helpers (replaceCalendars, replaceRoster) throw a
 * ProblemError instead of returning an error.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch'
import type { components, operations, paths } from './schema.js'

export type { components, operations, paths }

export type Schemas = components['schemas']
/** Every error answer: application/problem+json. */
export type Problem = Schemas['Problem']
/** One field at fault in a 400 Problem's `errors`. */
export type FieldError = Schemas['FieldError']
export type CalendarListEntry = Schemas['CalendarListEntry']
export type ReplaceCalendarsResult = Schemas['ReplaceCalendarsResult']
export type ReplaceRosterResult = Schemas['ReplaceRosterResult']
/**
 * A department the service accepts: its CREW_DEPARTMENTS, the enum of the crew-call routes' path
 * parameter (this SDK is generated with the default, sound, lights and video).
 */
export type Department =
  paths['/v1/jobs/{jobId}/crew-calls/{department}']['get']['parameters']['path']['department']
export type RosterAssignment = Schemas['ReplaceRoster']['assignments'][number]

/** The response headers rostersync sends that a client acts on, read from a Response. */
export interface AnswerHeaders {
  /** The resource's version as an entity tag, e.g. `"3"` (versioned resources, and 412 answers). */
  etag: string | undefined
  /** The version the ETag names, e.g. 3. */
  version: number | undefined
  /** Seconds to wait before retrying (409 while a sync or a keyed request runs, 429, 503). */
  retryAfterSeconds: number | undefined
  /** True when the answer was replayed for a retry with the same Idempotency-Key. */
  idempotentReplayed: boolean
  /** The request's id (also a Problem's `requestId` and in the server log). */
  requestId: string | undefined
}

export function answerHeaders(response: Response): AnswerHeaders {
  const etag = response.headers.get('etag') ?? undefined
  const version = etag === undefined ? undefined : /^"(\d+)"$/.exec(etag)?.[1]
  const retryAfter = response.headers.get('retry-after')
  return {
    etag,
    version: version === undefined ? undefined : Number(version),
    retryAfterSeconds: retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined,
    idempotentReplayed: response.headers.get('idempotent-replayed') === 'true',
    requestId: response.headers.get('x-request-id') ?? undefined,
  }
}

/** The If-Match value for a version (or versions, or `*`): `ifMatch(3)` is `"3"`. */
export function ifMatch(version: number | readonly number[] | '*'): string {
  if (version === '*') return '*'
  return [version]
    .flat()
    .map((v) => `"${v}"`)
    .join(', ')
}

/** An answer that is a Problem, thrown by unwrap and the helpers; the Problem and the headers typed. */
export class ProblemError extends Error {
  readonly status: number
  readonly problem: Problem
  readonly headers: AnswerHeaders

  constructor(problem: Problem, response: Response) {
    super(`${response.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}`)
    this.name = 'ProblemError'
    this.status = response.status
    this.problem = problem
    this.headers = answerHeaders(response)
  }

  /** The problem kind, e.g. `precondition-failed` for `urn:rostersync:problem:precondition-failed`. */
  get kind(): string {
    return this.problem.type.replace(/^urn:rostersync:problem:/, '')
  }
}

/** What a raw call resolves to, whatever its operation. */
interface CallResult<T> {
  data?: T
  error?: unknown
  response: Response
}

/** A raw call's success, with its headers; a Problem answer throws a ProblemError. */
export async function unwrap<T>(
  call: Promise<CallResult<T>>,
): Promise<{ data: T; headers: AnswerHeaders; response: Response }> {
  const { data, error, response } = await call
  if (error !== undefined || !response.ok) {
    if (isProblem(error)) throw new ProblemError(error, response)
    throw new Error(`${response.status} ${response.statusText}: not a problem+json answer`)
  }
  return { data: data as T, headers: answerHeaders(response), response }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && 'type' in value && 'status' in value
}

export interface WriteOptions {
  /** Replace only if the resource is still at this version (If-Match). */
  ifMatch?: number | readonly number[] | '*'
  /** Makes a retry safe (Idempotency-Key): a retry with the same key replays the first answer. */
  idempotencyKey?: string
}

function writeHeaders({ ifMatch: version, idempotencyKey }: WriteOptions) {
  return {
    ...(version !== undefined && { 'if-match': ifMatch(version) }),
    ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }),
  }
}

/** A replace's answer: the new set or roster, its version and its ETag (send back with ifMatch). */
export interface Replaced<T> {
  result: T
  version: number
  etag: string
  idempotentReplayed: boolean
}

export interface RostersyncHelpers {
  /** PUT /v1/users/{userId}/calendars; throws a ProblemError (412 when ifMatch is stale). */
  replaceCalendars(
    userId: string,
    calendars: CalendarListEntry[],
    options?: WriteOptions,
  ): Promise<Replaced<ReplaceCalendarsResult>>
  /** PUT /v1/jobs/{jobId}/crew-calls/{department}/assignments; throws a ProblemError. */
  replaceRoster(
    crewCall: { jobId: string; department: Department },
    assignments: RosterAssignment[],
    options?: WriteOptions,
  ): Promise<Replaced<ReplaceRosterResult>>
}

export type RostersyncClient = Client<paths> & RostersyncHelpers

export interface RostersyncClientOptions {
  /** The server's origin, e.g. http://127.0.0.1:3000 (paths start with /v1). */
  baseUrl: string
  /** A service key or a user token (JWT), sent as `Authorization: Bearer <token>`. */
  token: string
  /** A fetch implementation to use instead of globalThis.fetch. */
  fetch?: ClientOptions['fetch']
  /** Headers sent with every request (Authorization is set from `token`). */
  headers?: Record<string, string>
}

function replaced<T extends { version: number }>({ data, headers }: { data: T; headers: AnswerHeaders }) {
  return {
    result: data,
    version: data.version,
    etag: headers.etag ?? ifMatch(data.version),
    idempotentReplayed: headers.idempotentReplayed,
  }
}

export function createRostersyncClient({
  baseUrl,
  token,
  fetch,
  headers,
}: RostersyncClientOptions): RostersyncClient {
  const client = createClient<paths>({
    baseUrl,
    headers: { ...headers, Authorization: `Bearer ${token}` },
    ...(fetch && { fetch }),
  })
  const helpers: RostersyncHelpers = {
    async replaceCalendars(userId, calendars, options = {}) {
      const call = client.PUT('/v1/users/{userId}/calendars', {
        params: { path: { userId }, header: writeHeaders(options) },
        body: { calendars },
      })
      return replaced(await unwrap(call))
    },
    async replaceRoster(crewCall, assignments, options = {}) {
      const call = client.PUT('/v1/jobs/{jobId}/crew-calls/{department}/assignments', {
        params: { path: crewCall, header: writeHeaders(options) },
        body: { assignments },
      })
      return replaced(await unwrap(call))
    },
  }
  return Object.assign(client, helpers)
}

export {
  verifyWebhook,
  type WebhookEvent,
  type WebhookEventData,
  type WebhookEventType,
  type WebhookHeaders,
} from './webhooks.js'
