/**
 * The rostersync SDK: openapi-fetch over the types openapi-typescript generates from the server's
 * OpenAPI document (./schema.d.ts, regenerated with `npm run sdk`; never edit it by hand).
 *
 *   const api = createRostersyncClient({ baseUrl: 'http://127.0.0.1:3000', token })
 *   const { data, error, response } = await api.GET('/v1/users/{userId}/calendars', {
 *     params: { path: { userId: 'alice' } },
 *   })
 *
 * Every call resolves (it rejects only when fetch itself does, e.g. the server is unreachable) with
 * `data` typed by the 2xx response, or `error` typed as the Problem (RFC 9457 application/problem+json)
 * the server answers with, and the raw `response` for status and headers (ETag, Retry-After, ...).
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch'
import type { components, operations, paths } from './schema.js'

export type { components, operations, paths }

export type Schemas = components['schemas']
/** Every error answer: application/problem+json. */
export type Problem = Schemas['Problem']
/** One field at fault in a 400 Problem's `errors`. */
export type FieldError = Schemas['FieldError']
export type RostersyncClient = Client<paths>

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

export function createRostersyncClient({
  baseUrl,
  token,
  fetch,
  headers,
}: RostersyncClientOptions): RostersyncClient {
  return createClient<paths>({
    baseUrl,
    headers: { ...headers, Authorization: `Bearer ${token}` },
    ...(fetch && { fetch }),
  })
}
