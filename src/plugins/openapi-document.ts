/**
 * The last step of the OpenAPI document (@fastify/swagger's transformObject): what the routes' zod
 * schemas cannot say, added in one place, and what fastify-type-provider-zod adds that no client needs,
 * taken out.
 *
 * - Components: fastify-type-provider-zod emits every `.meta({ id })` schema twice, as `X` (the output
 *   shape) and `XInput` (the input shape). A twin identical to its output shape is merged into it, a
 *   component no operation reaches is dropped, and an input shape left alone takes the plain name. A twin
 *   that really differs keeps the `Input` suffix (none does today).
 * - Webhooks: the `webhooks` section, from the payloads' zod schemas (./openapi-webhooks.ts).
 * - Response headers: every header the server sends, with its schema (RESPONSE_HEADERS), on the responses
 *   that carry it (headersOf): the rules below are the plugins' own (request id, rate limit,
 *   authentication, problem details, idempotency keys, the versioned routes' ETag).
 */
import { MAX_CHALLENGE_LENGTH } from '../errors/bearer-challenge.ts'
import { MAX_INT32 } from '../schemas/common.ts'
import { isKeptStatus } from './idempotency.ts'
import { withWebhooks } from './openapi-webhooks.ts'
import { MAX_RETRY_AFTER_SECONDS } from './problem-details.ts'

type Json = Record<string, unknown>

export interface OpenApiDocument extends Json {
  paths?: Record<string, Record<string, Json>>
  components?: Json & { schemas?: Record<string, Json>; headers?: Record<string, Json> }
}

const SCHEMA_REF = '#/components/schemas/'
const HEADER_REF = '#/components/headers/'
const INPUT_SUFFIX = 'Input'

/** Every response header the API sends (besides Content-Type, Content-Length and the connection's own). */
const RESPONSE_HEADERS = {
  'x-request-id': {
    description:
      "The request's id: the caller's `x-request-id` when it is a token of up to 128 characters, else a " +
      'generated UUID. Logged with the request, and the `requestId` of a problem.',
    required: true,
    schema: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\w.:@/+=-]{1,128}$' },
  },
  ETag: {
    description:
      'The resource\'s version as a strong entity tag, e.g. `"3"`: send it back in `If-Match` to make a ' +
      'replace conditional.',
    required: true,
    schema: { type: 'string', maxLength: 12, pattern: '^"[0-9]+"$' },
  },
  'Retry-After': {
    description: `Seconds to wait before trying again (at most ${MAX_RETRY_AFTER_SECONDS}, a day).`,
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: MAX_RETRY_AFTER_SECONDS },
  },
  'WWW-Authenticate': {
    description:
      'The Bearer challenge (RFC 6750), e.g. `Bearer realm="rostersync", error="invalid_token", ' +
      'error_description="..."`.',
    required: true,
    schema: { type: 'string', maxLength: MAX_CHALLENGE_LENGTH, pattern: '^Bearer realm=' },
  },
  'Idempotent-Replayed': {
    description:
      '`true` on an answer replayed for a retry with the same `Idempotency-Key`: the request did not run again.',
    schema: { type: 'boolean' },
  },
  // Spelled as GitHub's (and as the OWASP ruleset looks them up); HTTP header names are case-insensitive,
  // and @fastify/rate-limit sends them in lower case. The IETF draft's RateLimit/RateLimit-Policy fields are
  // not sent: the draft is still changing, and these are what clients already read.
  'X-RateLimit-Limit': {
    description:
      'Requests this credential may make on /v1 per window (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS). With ' +
      'RATE_LIMIT_REDIS_URL set, one budget shared by every instance of the service; without it, or while ' +
      'that Redis does not answer, each instance counts its own requests (N instances allow up to N times it).',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: MAX_INT32 },
  },
  'X-RateLimit-Remaining': {
    description: "Requests left in the current window (in the shared count, or in this instance's own).",
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: MAX_INT32 },
  },
  'X-RateLimit-Reset': {
    description:
      'Seconds until the current window ends (at most RATE_LIMIT_WINDOW_MS, itself at most a day).',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: MAX_RETRY_AFTER_SECONDS },
  },
} as const

type ResponseHeaderName = keyof typeof RESPONSE_HEADERS

/** The component name of a header (components.headers keys must be plain names). */
const componentName = (header: ResponseHeaderName) =>
  header
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')

/** Problems answered before the request runs: never kept under an Idempotency-Key, so never replayed. */
const REFUSED_BEFORE_RUNNING = new Set([400, 401, 403, 413, 414, 415, 422])

interface OperationFacts {
  path: string
  operation: Json
  document: OpenApiDocument
}

/** The headers a response of this operation and status carries; `required` when it always does. */
function headersOf(
  { path, operation, document }: OperationFacts,
  status: number,
): Partial<Record<ResponseHeaderName, { required: boolean }>> {
  const headerParams = new Set(
    ((operation.parameters as Json[] | undefined) ?? [])
      .filter((p) => p.in === 'header')
      .map((p) => String(p.name).toLowerCase()),
  )
  const headers: Partial<Record<ResponseHeaderName, { required: boolean }>> = {
    'x-request-id': { required: true },
  }
  const success = status >= 200 && status < 300
  if (path.startsWith('/v1/')) {
    // @fastify/rate-limit, after authentication: on every answer that passed it.
    for (const name of ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'] as const)
      headers[name] = { required: false }
  }
  if (status === 401 || status === 403) headers['WWW-Authenticate'] = { required: true }
  if (status === 429 || status === 503) headers['Retry-After'] = { required: true }
  // A running sync of the crew call, or a running request with this Idempotency-Key (not a plain conflict).
  if (status === 409) headers['Retry-After'] = { required: false }
  if (status === 412 || (success && isVersioned(operation, headerParams, status, document)))
    headers.ETag = { required: true }
  if (headerParams.has('idempotency-key') && isKeptStatus(status) && !REFUSED_BEFORE_RUNNING.has(status))
    headers['Idempotent-Replayed'] = { required: false }
  return headers
}

/** A versioned resource's answer: the operation takes If-Match, or its body has the `version`. */
function isVersioned(operation: Json, headerParams: Set<string>, status: number, document: OpenApiDocument) {
  if (headerParams.has('if-match')) return true
  const response = (operation.responses as Record<string, Json> | undefined)?.[status]
  const content = response?.content as Record<string, { schema?: Json }> | undefined
  const schema = resolve(content?.['application/json']?.schema, document)
  return (schema?.properties as Json | undefined)?.version !== undefined
}

function resolve(schema: Json | undefined, document: OpenApiDocument): Json | undefined {
  const ref = schema?.$ref
  if (typeof ref !== 'string' || !ref.startsWith(SCHEMA_REF)) return schema
  return resolve(document.components?.schemas?.[ref.slice(SCHEMA_REF.length)], document)
}

// ---- components ------------------------------------------------------------------------------------

/** Every `$ref` string in a JSON value. */
function refsIn(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) refsIn(item, into)
  else if (value !== null && typeof value === 'object')
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') into.add(child)
      else refsIn(child, into)
    }
  return into
}

/** A copy of a JSON value with its schema `$ref`s renamed. */
function renameRefs<T>(value: T, rename: (name: string) => string): T {
  return JSON.parse(JSON.stringify(value), (key, child) =>
    key === '$ref' && typeof child === 'string' && child.startsWith(SCHEMA_REF)
      ? SCHEMA_REF + rename(child.slice(SCHEMA_REF.length))
      : child,
  ) as T
}

const outputName = (name: string) =>
  name.endsWith(INPUT_SUFFIX) ? name.slice(0, -INPUT_SUFFIX.length) : name

/**
 * The input twins identical to their output shape, once every twin they reference is merged too: all
 * pairs start as candidates, a pair whose schemas differ (comparing names without the suffix) is out,
 * and so, until nothing changes, is every pair that references a twin that is out.
 */
function identicalTwins(schemas: Record<string, Json>): Set<string> {
  const twins = Object.keys(schemas).filter(
    (name) => name.endsWith(INPUT_SUFFIX) && schemas[outputName(name)] !== undefined,
  )
  const same = new Set(
    twins.filter(
      (name) =>
        JSON.stringify(renameRefs(schemas[name], outputName)) === JSON.stringify(schemas[outputName(name)]),
    ),
  )
  for (let changed = true; changed; ) {
    changed = false
    for (const name of same) {
      const referenced = [...refsIn(schemas[name])].map((ref) => ref.slice(SCHEMA_REF.length))
      if (
        referenced.some((ref) => ref.endsWith(INPUT_SUFFIX) && !same.has(ref) && schemas[outputName(ref)])
      ) {
        same.delete(name)
        changed = true
      }
    }
  }
  return same
}

/** The components reachable from the paths. */
function reachable(document: OpenApiDocument): Set<string> {
  const schemas = document.components?.schemas ?? {}
  const seen = new Set<string>()
  const queue = [...refsIn(document.paths)]
  while (queue.length > 0) {
    const ref = queue.pop() as string
    if (!ref.startsWith(SCHEMA_REF)) continue
    const name = ref.slice(SCHEMA_REF.length)
    if (seen.has(name) || !schemas[name]) continue
    seen.add(name)
    queue.push(...refsIn(schemas[name]))
  }
  return seen
}

/** One component per shape: identical twins merged, unreachable components dropped, lone inputs renamed. */
function tidyComponents(document: OpenApiDocument): OpenApiDocument {
  const schemas = document.components?.schemas ?? {}
  const merged = identicalTwins(schemas)
  let tidy = renameRefs(document, (name) => (merged.has(name) ? outputName(name) : name))
  const used = reachable(tidy)
  const kept = Object.keys(schemas).filter((name) => used.has(name))
  const renamed = (name: string) =>
    name.endsWith(INPUT_SUFFIX) && !used.has(outputName(name)) ? outputName(name) : name
  tidy = renameRefs(tidy, renamed)
  const tidySchemas = Object.fromEntries(
    kept
      .map((name) => [renamed(name), tidy.components?.schemas?.[name] as Json] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  )
  return { ...tidy, components: { ...tidy.components, schemas: tidySchemas } }
}

// ---- responses -------------------------------------------------------------------------------------

function declareResponseHeaders(document: OpenApiDocument): OpenApiDocument {
  const used = new Set<ResponseHeaderName>()
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const responses = (operation.responses ?? {}) as Record<string, Json>
      for (const [status, response] of Object.entries(responses)) {
        const headers = headersOf({ path, operation, document }, Number(status))
        response.headers = Object.fromEntries(
          (Object.entries(headers) as [ResponseHeaderName, { required: boolean }][]).map(
            ([name, { required }]) => {
              used.add(name)
              // A header that is sometimes absent is declared in place, without `required`; one that is always
              // sent refers to its component (which says `required: true`).
              const { required: always, ...declared } = RESPONSE_HEADERS[name] as { required?: boolean }
              return [
                name,
                required === Boolean(always)
                  ? { $ref: HEADER_REF + componentName(name) }
                  : { ...declared, required },
              ]
            },
          ),
        )
      }
    }
  }
  const components = Object.fromEntries(
    [...used].sort().map((name) => [componentName(name), RESPONSE_HEADERS[name]]),
  )
  return { ...document, components: { ...document.components, headers: components } }
}

// ---- integers --------------------------------------------------------------------------------------

const INT32_MIN = -2_147_483_648
const INT32_MAX = 2_147_483_647

/**
 * A copy with `format` on every integer schema that has none: `int32` when its bounds (from the zod
 * schema: minimum and maximum) fit in 32 bits, else `int64`. JSON Schema has no integer widths and zod
 * emits none, so the width is read off the bounds the server enforces, and cannot drift from them.
 */
function declareIntegerFormats<T>(value: T): T {
  if (Array.isArray(value)) return value.map(declareIntegerFormats) as T
  if (value === null || typeof value !== 'object') return value
  const copy = Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, declareIntegerFormats(child)]),
  ) as Json
  const type = copy.type
  const isInteger = type === 'integer' || (Array.isArray(type) && type.includes('integer'))
  if (isInteger && copy.format === undefined) {
    const { minimum, maximum } = copy as { minimum?: number; maximum?: number }
    const fits =
      minimum !== undefined && maximum !== undefined && minimum >= INT32_MIN && maximum <= INT32_MAX
    copy.format = fits ? 'int32' : 'int64'
  }
  return copy as T
}

/** The finished document: tidy components, every response's headers, the webhooks, then integer formats. */
export function finishDocument(document: OpenApiDocument): OpenApiDocument {
  return declareIntegerFormats(withWebhooks(declareResponseHeaders(tidyComponents(document))))
}
