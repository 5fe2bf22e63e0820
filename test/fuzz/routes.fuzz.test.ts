import { connect } from 'node:net'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions } from 'fastify'
import pg from 'pg'
import t, { type Test } from 'tap'
import { build, injectAs, TEST_AUTHORIZATION, TEST_SERVICE_KEY } from '../helpers/build-app.ts'
import { calendarSet, calendarsUrl } from '../helpers/calendars.ts'
import { Conformance } from '../helpers/conformance.ts'
import { putCrewCall, putTechnicians, replaceRoster, roster } from '../helpers/crew.ts'
import { isProblemContentType } from '../helpers/problem.ts'

/**
 * G5 under fuzzing: thousands of malformed or hostile requests, over every route of the OpenAPI
 * document (a new route is fuzzed automatically), get only a 4xx problem+json and change nothing.
 *
 * Every generated request carries at least one defect that makes it invalid by construction (bad
 * credentials, an over-long or out-of-enum path parameter, a body the schema refuses, malformed JSON,
 * a wrong content type, a garbage If-Match / Idempotency-Key / query value), on top of hostile noise
 * (unicode, percent-encoded slashes, dots and null bytes in ids, random headers). Apart from those,
 * "probes" send syntactically valid requests with hostile ids that name nothing (a missing technician,
 * job or crew call), so the ids reach the services and the SQL: they must get a 4xx too, except the two
 * documented non-error answers listed in `documentedAnswer`.
 *
 * No Flex is configured: sync routes answer 501 `flex-not-configured` to a request
 * that passes validation, and nothing ever reaches an external system or writes a sync run. With a fake
 * Flex, a hostile-but-valid sync request would legitimately run and record a sync run, which the
 * unchanged-database check could not tell from a bug.
 *
 * Idempotency-Key: only malformed keys are sent (refused by validation, so never stored), so the
 * `idempotency_keys` table stays in the snapshot: a kept 4xx would show up as a change.
 *
 * Two checks at the end guard bugs this fuzz found (since fixed): router-level refusals (over-long or
 * badly percent-encoded path segments) answered Fastify's plain JSON, and NUL characters in ids reached
 * PostgreSQL and answered 500.
 *
 * FUZZ_SEED (default fixed, printed by fast-check on failure) and FUZZ_RUNS (runs per route) override.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261123)
const RUNS = Number(process.env.FUZZ_RUNS ?? 600)
const PROBE_RUNS = Math.ceil(RUNS / 2)
const BODY_LIMIT = 65_536

const { app, databaseUrl } = await build(t, {
  env: { RATE_LIMIT_MAX: '10000000', BODY_LIMIT_BYTES: String(BODY_LIMIT) },
})

// ---- A known state, through the API ----------------------------------------------------------------
// No tap assertion between these requests: a top-level t.equal between the calendars PUT and the next
// PUT made that PUT answer 503 (Prisma "Transaction not found"), reported separately.
const USER = 'alice'
const seedCalendars = await injectAs(app, 'service', {
  method: 'PUT',
  url: calendarsUrl(USER),
  payload: { calendars: calendarSet('seed', 3) },
})
await putTechnicians(app, 3)
await putCrewCall(app)
const seedRoster = await replaceRoster(app, roster(2))
if (seedCalendars.statusCode !== 200 || seedRoster.statusCode !== 200)
  throw new Error(`seeding failed: ${seedCalendars.body} ${seedRoster.body}`)
const SEEDED_IDS = new Set([
  USER,
  'tech-0',
  'tech-1',
  'tech-2',
  'job-1',
  'element-1',
  'res-0',
  'res-1',
  'res-2',
])

// ---- Snapshot: every table's rows, ordered ----------------------------------------------------------
const db = new pg.Client({ connectionString: databaseUrl })
await db.connect()
t.teardown(() => db.end())

async function snapshot(): Promise<Record<string, string[]>> {
  const tables = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  )
  const dump: Record<string, string[]> = {}
  for (const { name } of tables.rows) {
    const rows = await db.query<{ row: string }>(
      `SELECT row_to_json(x)::text AS row FROM "${name.replaceAll('"', '""')}" x ORDER BY 1`,
    )
    dump[name] = rows.rows.map((r) => r.row)
  }
  return dump
}

const before = await snapshot()
t.ok(
  before.managed_calendars?.length === 3 && before.technicians?.length === 3,
  'the snapshot holds the seeded rows',
)

// ---- The routes, from the OpenAPI document ---------------------------------------------------------
interface JsonSchema {
  type?: string | string[]
  enum?: unknown[]
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  maxLength?: number
  maxItems?: number
  minimum?: number
  maximum?: number
  format?: string
  $ref?: string
}
interface Parameter {
  in: 'path' | 'query' | 'header'
  name: string
  schema?: JsonSchema
}
interface Operation {
  parameters?: Parameter[]
  requestBody?: { content: Record<string, { schema: JsonSchema }> }
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, JsonSchema> }
}

const docResponse = await injectAs(app, 'service', { method: 'GET', url: '/openapi.json' })
const doc = docResponse.json<OpenApi>()
/** Every answer is also checked against the document: declared status, body schema, declared headers. */
const conformance = new Conformance(doc)
const resolve = (schema: JsonSchema | undefined): JsonSchema | undefined => {
  if (!schema?.$ref) return schema
  return resolve(doc.components?.schemas?.[schema.$ref.split('/').pop() ?? ''])
}

interface Route {
  method: string
  path: string
  pathParams: Parameter[]
  queryParams: Parameter[]
  headerNames: Set<string>
  body: JsonSchema | undefined
}

const routes: Route[] = []
for (const [path, operations] of Object.entries(doc.paths)) {
  for (const [method, operation] of Object.entries(operations)) {
    const parameters = operation.parameters ?? []
    routes.push({
      method: method.toUpperCase(),
      path,
      pathParams: parameters.filter((p) => p.in === 'path'),
      queryParams: parameters.filter((p) => p.in === 'query'),
      headerNames: new Set(parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase())),
      body: resolve(operation.requestBody?.content['application/json']?.schema),
    })
  }
}
const apiRoutes = routes.filter((r) => r.path.startsWith('/v1/'))
t.ok(apiRoutes.length >= 14, `the document lists the /v1 routes (${apiRoutes.length})`)

/** Methods whose requests Fastify reads a body for, with or without a body schema. */
const BODY_METHODS = new Set(['POST', 'PUT', 'DELETE'])

const isSync = (route: Route) => route.method === 'POST' && route.path.endsWith('/sync')

// ---- Building blocks -------------------------------------------------------------------------------
/** What a header may carry through inject: visible ASCII, space and tab. */
const headerText = (maxLength = 80) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength })

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * Path segments that are syntactically acceptable ids, but hostile, and never a seeded id. A dot segment
 * (`.`, `..`, and `%2e%2e`, which the WHATWG URL parser reads as `..`) is not among them: a client
 * resolves it before it sends the request (RFC 3986 5.2.4; fetch and light-my-request alike), so
 * `/v1/jobs/../crew-calls` is `/v1/crew-calls`, another route.
 */
const hostileId = fc
  .oneof(
    fc.constantFrom(
      '...',
      '%2F',
      '%2f',
      'a%2Fb',
      '..%2F..%2Fetc%2Fpasswd',
      '%2E',
      '%00',
      'a%00b',
      '%00%00',
      '%20',
      '+',
      '~',
      '%E2%80%AE',
      '%F0%9F%92%A9',
      '%EF%BF%BF',
      '%25',
      'null',
      'undefined',
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      '0',
      '-1',
      'NaN',
      "'%3B%20DROP%20TABLE%20technicians%3B--",
      '%5C',
      '%3Cscript%3E',
    ),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map(encodeURIComponent),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 }).map(encodeURIComponent),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1000 }).map(encodeURIComponent),
  )
  .filter((s) => !SEEDED_IDS.has(safeDecode(s)))

/** Path segments the router or the schema must refuse (or that match no route). */
const MAX_PARAM_LENGTH = 4096 // the router's maxParamLength (src/app.ts), counted on the encoded segment
const invalidIdSegment = fc.oneof(
  fc.integer({ min: 1025, max: MAX_PARAM_LENGTH }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 1025, max: MAX_PARAM_LENGTH - 6 }).map((n) => `${'x'.repeat(n - 1)}%2F`),
)

/** Refused by the router itself: malformed percent-encoding (see the router-refusal test at the end). */
const brokenSegment = fc.constantFrom('%', '%zz', '%E2%82', '%C0', '%C0%AF', 'a%', '%%')

const json = (value: unknown) => JSON.stringify(value) ?? 'null'
/** JSON text for an object given as entries: keeps duplicated and `__proto__` keys as written. */
const objectText = (entries: [string, string][]) =>
  `{${entries.map(([k, v]) => `${json(k)}:${v}`).join(',')}}`

const jsonTypeOf = (value: unknown) =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : typeof value === 'number'
        ? 'number'
        : typeof value
const typesOf = (schema: JsonSchema | undefined): Set<string> | undefined => {
  const s = resolve(schema)
  if (!s) return undefined
  if (s.type) return new Set([s.type].flat().map((ty) => (ty === 'integer' ? 'number' : ty)))
  const alternatives = s.anyOf ?? s.oneOf
  if (!alternatives) return undefined
  const all = new Set<string>()
  for (const alternative of alternatives) {
    const types = typesOf(alternative)
    if (!types) return undefined
    for (const ty of types) all.add(ty)
  }
  return all
}
const wrongTypedValue = (schema: JsonSchema | undefined) => {
  const types = typesOf(schema)
  return types ? fc.jsonValue({ maxDepth: 3 }).filter((v) => !types.has(jsonTypeOf(v))) : undefined
}

const deep = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n)
const deepValue = fc.oneof(
  fc.integer({ min: 100, max: 20_000 }).map((n) => deep(n)),
  fc.integer({ min: 100, max: 5_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
)

/** Any JSON value, as text: what a naive or hostile client may send. */
const anyJsonText = fc.oneof(
  fc.jsonValue().map(json),
  fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true }).map((v) => {
    try {
      return json(v)
    } catch {
      return '{}'
    }
  }),
)

/** Text JSON.parse refuses. */
const malformedJson = fc
  .oneof(
    fc.constantFrom(
      '',
      '{',
      '}',
      '[',
      '{"a":}',
      "{'a':1}",
      '{"a":1,}',
      '[1,]',
      'NaN',
      'undefined',
      '{"a" 1}',
      '\u0000',
      '\ufeff{',
    ),
    fc.jsonValue().map((v) => json(v).slice(0, -1)),
    fc.jsonValue().map((v) => `${json(v)}}garbage`),
    fc.string({ maxLength: 200 }),
  )
  .filter((text) => {
    try {
      JSON.parse(text)
      return false
    } catch {
      return true
    }
  })

interface Draft {
  params: Record<string, string>
  query: [string, string][]
  headers: Record<string, string | undefined>
  payload?: string
}

const knownFieldEntries = (body: JsonSchema): fc.Arbitrary<[string, string][]> => {
  const names = Object.keys(body.properties ?? {})
  return fc
    .subarray(names)
    .chain((picked) =>
      fc.tuple(
        ...picked.map((name) => fc.jsonValue({ maxDepth: 3 }).map((v): [string, string] => [name, json(v)])),
      ),
    )
}

/** Bodies the route's schema refuses, each for a known reason. */
function invalidBodies(body: JsonSchema): fc.Arbitrary<{ text: string; contentType?: string }>[] {
  const properties = body.properties ?? {}
  const names = Object.keys(properties)
  const asJson = (text: fc.Arbitrary<string>) => text.map((t) => ({ text: t }))
  const bodies: fc.Arbitrary<{ text: string; contentType?: string }>[] = [
    // not an object at all
    asJson(
      fc.oneof(
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }).map(json),
        fc.string().map(json),
        fc.double({ noNaN: true, noDefaultInfinity: true }).map(json),
        fc.boolean().map(json),
        fc.constant('null'),
        deepValue.filter((text) => text.startsWith('[')),
      ),
    ),
    // an unknown key, next to known fields with arbitrary values
    asJson(
      fc
        .tuple(
          knownFieldEntries(body),
          fc
            .oneof(
              fc.string(),
              fc.constantFrom(
                'constructor',
                'prototype',
                'toString',
                'hasOwnProperty',
                '__defineGetter__',
                'valueOf',
              ),
            )
            .filter((key) => !names.includes(key) && key !== '__proto__'),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map(([entries, key, value]) => objectText([...entries, [key, json(value)]])),
    ),
    // prototype pollution, at the top or inside a known field
    asJson(
      fc
        .tuple(
          fc.constantFrom(
            '{"__proto__":{"polluted":true}}',
            '{"constructor":{"prototype":{"polluted":true}}}',
          ),
          fc.option(fc.constantFrom(...(names.length ? names : ['x'])), { nil: undefined }),
          fc.boolean(),
        )
        .map(([evil, field, asArray]) =>
          field === undefined ? evil : objectText([[field, asArray ? `[${evil}]` : evil]]),
        ),
    ),
    // malformed JSON
    asJson(malformedJson),
    // not JSON: another media type, or none
    fc.record({
      text: fc.oneof(anyJsonText, fc.string()),
      contentType: fc.oneof(
        fc.constantFrom(
          'text/html',
          'application/xml',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/octet-stream',
          'application/jsonx',
          'json',
          'application/',
          '*/*',
          ';',
          'application/problem+xml',
        ),
        headerText(60).filter((ct) => !/json|text\/plain/i.test(ct) && ct.trim() !== ''),
      ),
    }),
    // too large
    asJson(
      fc
        .integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 2 })
        .map((n) => json({ [names[0] ?? 'x']: 'x'.repeat(n) })),
    ),
  ]
  // a field of the wrong type (the rest arbitrary)
  const typed = names.filter((name) => wrongTypedValue(properties[name]))
  if (typed.length) {
    bodies.push(
      asJson(
        fc
          .constantFrom(...typed)
          .chain((name) =>
            fc.tuple(
              fc.constant(name),
              wrongTypedValue(properties[name]) ?? fc.constant(null),
              knownFieldEntries(body),
            ),
          )
          .map(([name, value, entries]) =>
            objectText([...entries.filter(([k]) => k !== name), [name, json(value)]]),
          ),
      ),
    )
  }
  // strings over their maximum, and deep nesting, in known fields
  const bounded = names.filter((name) => resolve(properties[name])?.maxLength !== undefined)
  if (bounded.length) {
    bodies.push(
      asJson(
        fc
          .tuple(fc.constantFrom(...bounded), fc.integer({ min: 1, max: 20_000 }), knownFieldEntries(body))
          .map(([name, extra, entries]) =>
            objectText([
              ...entries.filter(([k]) => k !== name),
              [name, json('y'.repeat((resolve(properties[name])?.maxLength ?? 0) + extra))],
            ]),
          ),
      ),
    )
  }
  const nestable = names.filter((name) => !typesOf(properties[name])?.has('array'))
  bodies.push(
    asJson(
      fc
        .tuple(fc.constantFrom(...(nestable.length ? nestable : ['x'])), deepValue)
        .map(([name, value]) => objectText([[name, value]])),
    ),
  )
  // arrays of objects: duplicated ids, and items that are deep arrays or objects with bounded strings too long
  for (const name of names) {
    const property = resolve(properties[name])
    const item = resolve(property?.items)
    if (!property || typesOf(property)?.has('array') !== true || !item?.properties) continue
    const required = (item.required ?? []).filter((key) => typesOf(item.properties?.[key])?.has('string'))
    if (required.length) {
      const dup = Object.fromEntries(required.map((key) => [key, 'dup']))
      bodies.push(asJson(fc.integer({ min: 2, max: 50 }).map((n) => json({ [name]: Array(n).fill(dup) }))))
      bodies.push(
        asJson(
          fc
            .tuple(fc.constantFrom(...required), fc.integer({ min: 1025, max: 10_000 }))
            .map(([key, n]) => json({ [name]: [{ ...dup, [key]: 'z'.repeat(n) }] })),
        ),
      )
    }
    bodies.push(asJson(deepValue.filter((v) => v.startsWith('[')).map((v) => `{${json(name)}:[${v}]}`)))
  }
  return bodies
}

const ifMatchIsValid = (value: string) =>
  value.trim() === '*' || value.split(',').every((part) => /^\s*"(\d{1,9})"\s*$/.test(part))
const badIfMatch = fc
  .oneof(
    fc.constantFrom(
      'W/"1"',
      '1',
      '"1',
      '"-1"',
      '"1.5"',
      '"1234567890"',
      '"1",',
      ',',
      '**',
      '"a"',
      '""',
      'null',
    ),
    headerText(),
  )
  .filter((v) => v.trim() !== '' && !ifMatchIsValid(v))
const badIdempotencyKey = fc.oneof(
  fc.constantFrom('has space', ' lead', 'tab\tkey', 'a b c'),
  fc.integer({ min: 256, max: 5000 }).map((n) => 'k'.repeat(n)),
  headerText().filter((v) => v.trim() !== '' && !/^[\x21-\x7e]{1,255}$/.test(v)),
)
const badAuthorization = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    '',
    'Bearer',
    'Bearer ',
    'Bearer  ',
    `Bearer ${TEST_SERVICE_KEY}x`,
    `Bearer ${TEST_SERVICE_KEY.slice(0, -1)}`,
    TEST_SERVICE_KEY,
    `Basic ${TEST_SERVICE_KEY}`,
    `Token ${TEST_SERVICE_KEY}`,
    'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.',
    'Bearer eyJhbGciOiJIUzI1NiJ9.e30.',
    'Bearer a.b.c',
    'Bearer ...',
  ),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `Bearer ${'A'.repeat(n)}`),
  headerText(200).filter((v) => !v.includes(TEST_SERVICE_KEY)),
  headerText(200)
    .filter((v) => !v.includes(TEST_SERVICE_KEY))
    .map((v) => `Bearer ${v}`),
)

/** Headers that must change nothing: request ids, accept, random names. */
const noiseHeaders = fc.record(
  {
    'x-request-id': fc.oneof(
      headerText(200),
      fc.integer({ min: 129, max: 3000 }).map((n) => 'r'.repeat(n)),
    ),
    accept: fc.constantFrom('text/html', 'application/xml', '*/*', 'application/json;q=0', 'garbage'),
    'x-forwarded-for': headerText(),
    'x-http-method-override': fc.constantFrom('DELETE', 'PUT', 'GET'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', 'garbage'),
  },
  { requiredKeys: [] },
)

/** Query noise that never makes a request valid nor invalid on its own for routes without a query. */
const noiseQuery = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom('__proto__', 'constructor', '__proto__[polluted]', 'constructor[prototype][x]', 'a[]'),
      fc.string({ maxLength: 10 }),
    ),
    fc.string({ maxLength: 30 }),
  ),
  { maxLength: 4 },
)

const pathOf = (route: Route, params: Record<string, string>) =>
  route.path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? 'x')
const urlOf = (route: Route, draft: Draft) => {
  const query = draft.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')
  return pathOf(route, draft.params) + (query ? `?${query}` : '')
}

const enumOf = (parameter: Parameter) => resolve(parameter.schema)?.enum?.map(String)

/** Path parameters: hostile where an id is expected, a valid value where the schema is an enum. */
const hostileParams = (route: Route, ids: fc.Arbitrary<string> = hostileId) =>
  fc.record(
    Object.fromEntries(
      route.pathParams.map((p) => {
        const values = enumOf(p)
        return [p.name, values ? fc.constantFrom(...values) : ids]
      }),
    ) as Record<string, fc.Arbitrary<string>>,
  )

type Defect = fc.Arbitrary<(draft: Draft) => Draft>

/** Everything that makes a request to this route invalid, whatever the rest holds. */
function defectsOf(route: Route): Defect[] {
  const defects: Defect[] = [
    badAuthorization.map((value) => (d: Draft) => ({
      ...d,
      headers: { ...d.headers, authorization: value },
    })),
  ]
  for (const p of route.pathParams) {
    const values = enumOf(p)
    defects.push(
      fc
        .oneof(
          invalidIdSegment,
          fc.constant(''),
          ...(values ? [hostileId.filter((v) => !values.includes(safeDecode(v)))] : []),
        )
        .map((value) => (d: Draft) => ({ ...d, params: { ...d.params, [p.name]: value } })),
    )
  }
  if (route.headerNames.has('if-match'))
    defects.push(
      badIfMatch.map((value) => (d: Draft) => ({ ...d, headers: { ...d.headers, 'if-match': value } })),
    )
  if (route.headerNames.has('idempotency-key'))
    defects.push(
      badIdempotencyKey.map((value) => (d: Draft) => ({
        ...d,
        headers: { ...d.headers, 'idempotency-key': value },
      })),
    )
  for (const p of route.queryParams) {
    const schema = resolve(p.schema)
    const values = enumOf(p)
    let bad: fc.Arbitrary<string> | undefined
    if (values) bad = fc.string({ maxLength: 20 }).filter((v) => !values.includes(v))
    else if (schema?.type === 'integer')
      bad = fc.constantFrom(
        'abc',
        '1.5',
        String(Number(schema.minimum ?? 0) - 1),
        '1e400',
        '99999999999999999999',
      )
    else if (/^(dryRun|checkFlex)$/.test(p.name))
      bad = fc.constantFrom('maybe', '2', 'truee', 'nope', 'null', '[]')
    else if (schema?.maxLength !== undefined) bad = fc.constant('q'.repeat(schema.maxLength + 1))
    if (bad) defects.push(bad.map((value) => (d: Draft) => ({ ...d, query: [[p.name, value], ...d.query] })))
  }
  if (route.method === 'GET' && route.queryParams.length) {
    const known = new Set(route.queryParams.map((p) => p.name))
    defects.push(
      fc
        .oneof(
          fc.constantFrom('__proto__', 'constructor', 'toString', 'unknown'),
          fc.string({ minLength: 1, maxLength: 10 }),
        )
        .filter((k) => !known.has(k))
        .map((key) => (d: Draft) => ({ ...d, query: [...d.query, [key, '1']] })),
    )
  }
  if (!route.body && BODY_METHODS.has(route.method)) {
    // No body schema, but Fastify still reads a body: too large (413), or not JSON (415).
    defects.push(
      fc
        .oneof(
          fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 2 }).map((n) => ({
            text: json({ x: 'x'.repeat(n) }),
            contentType: 'application/json',
          })),
          fc.record({ text: fc.string(), contentType: fc.constantFrom('text/html', 'application/xml') }),
        )
        .map(({ text, contentType }) => (d: Draft) => ({
          ...d,
          payload: text,
          headers: { ...d.headers, 'content-type': contentType },
        })),
    )
  }
  if (route.body) {
    for (const body of invalidBodies(route.body))
      defects.push(
        body.map(({ text, contentType }) => (d: Draft) => ({
          ...d,
          payload: text,
          headers: { ...d.headers, 'content-type': contentType ?? 'application/json' },
        })),
      )
  }
  return defects
}

// ---- Sending and judging ---------------------------------------------------------------------------
let sent = 0
const statuses = new Map<number, number>()

interface Outcome {
  ok: boolean
  why?: string
}

function describe(route: Route, draft: Draft, status: number, body: string) {
  const headers = Object.fromEntries(
    Object.entries(draft.headers).map(([k, v]) => [
      k,
      v && v.length > 120 ? `${v.slice(0, 120)}…(${v.length})` : v,
    ]),
  )
  const url = urlOf(route, draft)
  const payload = draft.payload
  return JSON.stringify({
    method: route.method,
    url: url.length > 300 ? `${url.slice(0, 300)}…(${url.length})` : url,
    headers,
    payload: payload && payload.length > 300 ? `${payload.slice(0, 300)}…(${payload.length})` : payload,
    status,
    body: body.slice(0, 500),
  })
}

async function send(route: Route, draft: Draft) {
  const options: InjectOptions = {
    method: route.method as InjectOptions['method'],
    url: urlOf(route, draft),
    headers: draft.headers as InjectOptions['headers'],
    ...(draft.payload !== undefined && { payload: draft.payload }),
  }
  sent++
  // As the service, unless the defect under test is the Authorization header itself.
  const principal = draft.headers && 'authorization' in draft.headers ? 'headers' : 'service'
  const response = await injectAs(app as FastifyInstance, principal, options)
  statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
  conformance.check({
    method: route.method,
    url: options.url as string,
    status: response.statusCode,
    headers: response.headers,
    body: response.body,
  })
  return response
}

function isProblem(status: number, contentType: unknown, body: string): Outcome {
  if (!isProblemContentType(contentType)) return { ok: false, why: `content-type ${String(contentType)}` }
  let problem: Record<string, unknown>
  try {
    problem = JSON.parse(body)
  } catch {
    return { ok: false, why: 'the body is not JSON' }
  }
  if (typeof problem !== 'object' || problem === null) return { ok: false, why: 'the body is not an object' }
  for (const key of ['type', 'title', 'requestId'])
    if (typeof problem[key] !== 'string' || problem[key] === '') return { ok: false, why: `no ${key}` }
  if (!String(problem.type).startsWith('urn:rostersync:problem:'))
    return { ok: false, why: `type ${problem.type}` }
  if (problem.status !== status) return { ok: false, why: `body status ${problem.status} ≠ ${status}` }
  return { ok: true }
}

/** A 4xx problem, or for a valid request to a sync route the 501 "Flex not configured" problem. */
function judge(route: Route, status: number, contentType: unknown, body: string, valid = false): Outcome {
  const expected = (status >= 400 && status < 500) || (valid && isSync(route) && status === 501)
  if (!expected) return { ok: false, why: `status ${status}` }
  if (status === 501 && !body.includes('urn:rostersync:problem:flex-not-configured'))
    return { ok: false, why: 'a 501 that is not flex-not-configured' }
  return isProblem(status, contentType, body)
}

/** The documented non-error answers a valid probe may get. */
function documentedAnswer(route: Route, status: number, body: string): boolean {
  // a user never synced: version 0 and no calendars
  if (route.method === 'GET' && route.path === '/v1/users/{userId}/calendars' && status === 200) {
    const read = JSON.parse(body) as { version?: unknown; calendars?: unknown[] }
    return read.version === 0 && Array.isArray(read.calendars) && read.calendars.length === 0
  }
  // ... and no history
  if (route.method === 'GET' && route.path === '/v1/users/{userId}/calendars/history' && status === 200) {
    const page = JSON.parse(body) as { versions?: unknown[]; nextCursor?: unknown }
    return Array.isArray(page.versions) && page.versions.length === 0 && page.nextCursor === null
  }
  return false
}

const draftOf = (route: Route) =>
  fc.record({
    params: hostileParams(route),
    query: noiseQuery,
    headers: noiseHeaders as fc.Arbitrary<Record<string, string | undefined>>,
    payload: fc.option(route.body ? anyJsonText : fc.oneof(anyJsonText, fc.string()), { nil: undefined }),
  })

const fcParameters = (numRuns: number): fc.Parameters<[unknown]> => ({
  seed: SEED,
  numRuns,
  endOnFailure: true,
})

const started = Date.now()

for (const route of apiRoutes) {
  await t.test(`${route.method} ${route.path}: hostile requests get a 4xx problem`, async (tt) => {
    const request = fc
      .tuple(draftOf(route), fc.oneof(...defectsOf(route)), fc.oneof(...defectsOf(route)), fc.boolean())
      .map(([draft, first, second, twice]) => {
        const d = first(draft)
        const withJson =
          d.payload !== undefined && d.headers['content-type'] === undefined
            ? { ...d, headers: { ...d.headers, 'content-type': 'application/json' } }
            : d
        return twice ? second(withJson) : withJson
      })
    await fc.assert(
      fc.asyncProperty(request, async (draft) => {
        const response = await send(route, draft)
        const outcome = judge(route, response.statusCode, response.headers['content-type'], response.body)
        if (!outcome.ok)
          throw new Error(`${outcome.why}: ${describe(route, draft, response.statusCode, response.body)}`)
      }),
      fcParameters(RUNS) as fc.Parameters<[Draft]>,
    )
    tt.pass(`${RUNS} requests`)
  })
}

/**
 * Valid bodies for non-GET routes whose hostile ids name a crew call that does not exist, so the
 * request passes validation, reaches the service with its ids, and must be refused there.
 */
const probeBodies: Record<string, string | undefined> = {
  'PUT /v1/jobs/{jobId}/crew-calls/{department}/assignments': '{"assignments":[]}',
  'PUT /v1/jobs/{jobId}/crew-calls/{department}/assignments/{technicianId}': '{}',
  'DELETE /v1/jobs/{jobId}/crew-calls/{department}/assignments/{technicianId}': undefined,
  'DELETE /v1/jobs/{jobId}/crew-calls/{department}': undefined,
  'DELETE /v1/technicians/{technicianId}': undefined,
  'POST /v1/jobs/{jobId}/crew-calls/{department}/sync': undefined,
  'POST /v1/jobs/{jobId}/sync': undefined,
}

for (const route of apiRoutes) {
  const key = `${route.method} ${route.path}`
  if (!route.pathParams.length || (route.method !== 'GET' && !(key in probeBodies))) continue
  await t.test(`${key}: valid requests with hostile ids that name nothing get a 4xx problem`, async (tt) => {
    const request = fc
      .tuple(
        hostileParams(route, hostileId),
        noiseHeaders as fc.Arbitrary<Record<string, string | undefined>>,
        route.queryParams.length ? fc.constant<[string, string][]>([]) : noiseQuery,
      )
      .map(([params, headers, query]) => probeDraft(key, params, headers, query))
    await fc.assert(
      fc.asyncProperty(request, (draft) => expectProbeAnswer(route, draft)),
      fcParameters(PROBE_RUNS) as fc.Parameters<[Draft]>,
    )
    tt.pass(`${PROBE_RUNS} requests`)
  })
}

/** A valid request to the route `key` with these path params: its probe body when it takes one. */
function probeDraft(
  key: string,
  params: Draft['params'],
  headers: Record<string, string | undefined> = {},
  query: [string, string][] = [],
): Draft {
  const payload = probeBodies[key]
  return {
    params,
    query,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(payload !== undefined && { payload }),
  }
}

/** Sends a probe; throws unless it gets a documented answer or a 4xx problem. */
async function expectProbeAnswer(route: Route, draft: Draft): Promise<void> {
  const response = await send(route, draft)
  if (documentedAnswer(route, response.statusCode, response.body)) return
  const outcome = judge(route, response.statusCode, response.headers['content-type'], response.body, true)
  if (!outcome.ok)
    throw new Error(`${outcome.why}: ${describe(route, draft, response.statusCode, response.body)}`)
}

/** A property over a few requests, each answered with a 4xx problem (a regression guard for a fixed bug). */
async function holds(tt: Test, what: string, property: fc.IAsyncProperty<[unknown, ...unknown[]]>) {
  const details = await fc.check(property, { seed: SEED, numRuns: 5, endOnFailure: true })
  if (!details.failed) tt.pass(`5 requests, all answered with a 4xx problem: ${what}`)
  else tt.fail(`${what}: ${details.errorInstance instanceof Error ? details.errorInstance.message : ''}`)
}

/**
 * The router's own refusals go through the problem+json error handler (Fastify's frameworkErrors;
 * they used to answer Fastify's plain JSON):
 * - A path segment longer than maxParamLength (4096) gets Fastify's 414 with `content-type:
 *   application/json` and `{"error":"Bad Request","code":"FST_ERR_MAX_PARAM_LENGTH",...}`.
 *   Repro: GET /v1/technicians/ + 'x'.repeat(5000), with a valid key.
 * - Malformed percent-encoding in the path (`%`, `%zz`, `%C0`) gets Fastify's plain-JSON 400
 *   FST_ERR_BAD_URL, before authentication (so 400, not 401, without credentials).
 *   Repro: GET /v1/users/%C0/calendars.
 */
for (const route of apiRoutes) {
  if (!route.pathParams.length) continue
  await t.test(
    `${route.method} ${route.path}: ids the router refuses (over 4096 characters, bad percent-encoding) get a 4xx problem`,
    async (tt) => {
      await holds(
        tt,
        'FST_ERR_MAX_PARAM_LENGTH (414) and FST_ERR_BAD_URL (400) answer problem+json',
        fc.asyncProperty(
          fc.constantFrom(...route.pathParams.map((p) => p.name)),
          fc.oneof(
            fc.integer({ min: MAX_PARAM_LENGTH + 1, max: 5000 }).map((n) => 'x'.repeat(n)),
            brokenSegment,
          ),
          hostileParams(route),
          async (name, segment, params) => {
            const draft: Draft = { params: { ...params, [name]: segment }, query: [], headers: {} }
            const response = await send(route, draft)
            const outcome = judge(route, response.statusCode, response.headers['content-type'], response.body)
            if (!outcome.ok)
              throw new Error(`${outcome.why}: ${describe(route, draft, response.statusCode, response.body)}`)
          },
        ),
      )
    },
  )
}

/**
 * An id holding a NUL character is refused by validation (it used to reach PostgreSQL, which refuses
 * 0x00 in text: a 500 instead of a 400 naming the field). Repro: GET /v1/technicians/a%00b with a valid key (also /v1/users/a%00b/calendars, crew calls).
 */
for (const route of apiRoutes) {
  const key = `${route.method} ${route.path}`
  if (!route.pathParams.length || (route.method !== 'GET' && !(key in probeBodies))) continue
  await t.test(`${key}: valid requests with NUL in an id get a 4xx problem`, async (tt) => {
    const nulId = fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(`${s}\0`))
    await holds(
      tt,
      'NUL characters in ids are refused with a 4xx',
      fc.asyncProperty(hostileParams(route, nulId), (params) =>
        expectProbeAnswer(route, probeDraft(key, params)),
      ),
    )
  })
}

/**
 * Only well-formed text gets in (issue 28): every string the document lists for a route (body fields,
 * nested items' fields, headers, query and path parameters), found by walking the document so a new
 * field is covered automatically, is sent holding a lone surrogate (high, low, reversed) or a control
 * character, and must get a 400 problem naming that very field; the snapshot check below proves nothing
 * was written. Before the fix a lone surrogate in a calendar field answered 500 and one in a technician
 * or crew-call field was stored as U+FFFD. A URL cannot carry a lone surrogate (its UTF-8 form is
 * malformed percent-encoding, which the router refuses): path parameters get that form, query
 * parameters control characters, which they can carry.
 */
interface TextField {
  in: 'body' | 'header' | 'query' | 'path'
  pointer: string
  /** The request with `value` at this field; the rest valid where that is easy, arbitrary otherwise. */
  draft: (value: string) => Draft
}

const isFreeString = (schema: JsonSchema | undefined) =>
  typesOf(schema)?.has('string') === true && !resolve(schema)?.enum

/** A valid sample of a string of this format (ids of generated values are UUIDs), else undefined. */
const sampleOfFormat = (schema: JsonSchema | undefined) =>
  ({ uuid: '6b1f0a3c-2d4e-4f5a-8b9c-0d1e2f3a4b5c', uri: 'https://hooks.example.com/x' })[
    resolve(schema)?.format as 'uuid' | 'uri'
  ]

const validParams = (route: Route) =>
  Object.fromEntries(
    route.pathParams.map((p) => [p.name, enumOf(p)?.[0] ?? sampleOfFormat(p.schema) ?? 'wf-id']),
  )

/** The smallest body the route's schema accepts (required fields only: 'x', [], 0, false, {}), if any. */
function minimalBody(route: Route): string | undefined {
  if (!route.body) return undefined
  const value = (schema: JsonSchema | undefined): unknown => {
    const types = typesOf(schema) ?? new Set()
    if (types.has('array')) return []
    if (types.has('number')) return 0
    if (types.has('boolean')) return false
    if (types.has('object')) return {}
    return sampleOfFormat(schema) ?? 'x'
  }
  const properties = route.body.properties ?? {}
  return json(Object.fromEntries((route.body.required ?? []).map((name) => [name, value(properties[name])])))
}

function textFieldsOf(route: Route): TextField[] {
  const fields: TextField[] = []
  const params = validParams(route)
  const body = minimalBody(route)
  // Params, body, query and headers are validated in that order: the others are valid, so the
  // field under test is the one refused.
  const base: Draft =
    body === undefined
      ? { params, query: [], headers: {} }
      : { params, query: [], headers: { 'content-type': 'application/json' }, payload: body }
  const properties = route.body?.properties ?? {}
  for (const [name, schema] of Object.entries(properties)) {
    const property = resolve(schema)
    const withBody = (body: unknown): Draft => ({
      ...base,
      headers: { 'content-type': 'application/json' },
      payload: json(body),
    })
    if (isFreeString(property))
      fields.push({ in: 'body', pointer: `/${name}`, draft: (v) => withBody({ [name]: v }) })
    const item = resolve(property?.items)
    for (const [key, itemSchema] of Object.entries(item?.properties ?? {}))
      if (isFreeString(itemSchema))
        fields.push({
          in: 'body',
          pointer: `/${name}/0/${key}`,
          draft: (v) => withBody({ [name]: [{ [key]: v }] }),
        })
  }
  for (const header of route.headerNames)
    fields.push({
      in: 'header',
      pointer: `/${header}`,
      draft: (v) => ({ ...base, headers: { ...base.headers, [header]: v } }),
    })
  for (const p of route.queryParams)
    if (isFreeString(p.schema))
      fields.push({ in: 'query', pointer: `/${p.name}`, draft: (v) => ({ ...base, query: [[p.name, v]] }) })
  for (const p of route.pathParams)
    if (isFreeString(p.schema))
      fields.push({
        in: 'path',
        pointer: `/${p.name}`,
        draft: (v) => ({ ...base, params: { ...params, [p.name]: v } }),
      })
  return fields
}

const loneSurrogate = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\udc00\ud800')
/** Refused in every field: C0 controls (but tab, LF, CR), DEL, C1; ids refuse tab, LF and CR as well. */
const control = fc.constantFrom(
  '\u0000',
  '\u0001',
  '\u0008',
  '\u000b',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009f',
)
const around = (inner: fc.Arbitrary<string>) =>
  fc
    .tuple(
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
      inner,
      fc.string({ unit: 'grapheme', maxLength: 8 }),
    )
    .map(([before, middle, after]) => `${before}${middle}${after}`)

/** Headers hold latin1 text at most: ASCII around the character under test. */
const aroundAscii = (inner: fc.Arbitrary<string>) =>
  fc
    .tuple(
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
      inner,
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
    )
    .map(([before, middle, after]) => `${before}${middle}${after}`)

const stringFieldCount = apiRoutes.reduce((n, route) => n + textFieldsOf(route).length, 0)
t.ok(stringFieldCount >= 20, `the document lists the routes' string fields (${stringFieldCount})`)

for (const route of apiRoutes) {
  const fields = textFieldsOf(route)
  if (!fields.length) continue
  await t.test(
    `${route.method} ${route.path}: a lone surrogate or a control character in any string is a 400 naming it`,
    async (tt) => {
      const request = fc
        .constantFrom(...fields)
        .chain((field) =>
          fc.tuple(
            fc.constant(field),
            field.in === 'path'
              ? fc.oneof(
                  around(control).map(encodeURIComponent),
                  fc.constantFrom('%ED%A0%80', 'a%ED%B0%80', '%ED%A0%80%ED%B0%80'),
                )
              : field.in === 'query'
                ? around(control)
                : field.in === 'header'
                  ? aroundAscii(fc.oneof(loneSurrogate, control))
                  : around(fc.oneof(loneSurrogate, control)),
          ),
        )
      await fc.assert(
        fc.asyncProperty(request, async ([field, value]) => {
          const draft = field.draft(value)
          const response = await send(route, draft)
          const outcome = judge(route, response.statusCode, response.headers['content-type'], response.body)
          const where = (response.json() as { errors?: { in: string; pointer: string }[] }).errors ?? []
          const malformedUrl = field.in === 'path' && response.statusCode === 400 && value.includes('%ED')
          if (
            !outcome.ok ||
            response.statusCode !== 400 ||
            (!malformedUrl && !where.some((e) => e.in === field.in && e.pointer === field.pointer))
          )
            throw new Error(
              `${outcome.why ?? `not a 400 naming ${field.in} ${field.pointer}`}: ${describe(route, draft, response.statusCode, response.body)}`,
            )
        }),
        fcParameters(Math.max(50, fields.length * 20)) as fc.Parameters<[[TextField, string]]>,
      )
      tt.pass(`${fields.length} string fields: ${fields.map((f) => `${f.in} ${f.pointer}`).join(', ')}`)
    },
  )
}

/**
 * A body declared in another charset is a 415 naming UTF-8 (it used to be read as UTF-8 whatever it
 * said), and bytes that are not UTF-8 a 400 (they used to become U+FFFD).
 */
for (const route of apiRoutes) {
  if (!BODY_METHODS.has(route.method)) continue
  await t.test(
    `${route.method} ${route.path}: a body in another charset or not UTF-8 gets a 4xx problem`,
    async (tt) => {
      await holds(
        tt,
        'other charsets are 415, invalid UTF-8 a 400',
        fc.asyncProperty(
          fc.oneof(
            fc.record({
              charset: fc.constantFrom(
                'latin1',
                'iso-8859-1',
                'utf-16',
                'UTF-16LE',
                'windows-1252',
                'us-ascii',
                '"koi8-r"',
              ),
              bytes: fc.constant(undefined),
            }),
            fc.record({
              charset: fc.constantFrom(undefined, 'utf-8'),
              bytes: fc.constantFrom(
                [0xe9],
                [0xc0, 0xaf],
                [0xed, 0xa0, 0x80],
                [0xff],
                [0xf8, 0x88, 0x80, 0x80, 0x80],
              ),
            }),
          ),
          async ({ charset, bytes }) => {
            const text = Buffer.from(json({ name: 'x' }).slice(0, -2), 'utf8')
            const payload = Buffer.concat([text, Buffer.from(bytes ?? [0x41]), Buffer.from('"}')])
            const draft: Draft = {
              params: validParams(route),
              query: [],
              headers: { 'content-type': `application/json${charset ? `; charset=${charset}` : ''}` },
            }
            const response = await injectAs(app as FastifyInstance, 'service', {
              method: route.method as InjectOptions['method'],
              url: urlOf(route, draft),
              headers: draft.headers as InjectOptions['headers'],
              payload,
            })
            sent++
            const expected = bytes ? 400 : 415
            const outcome = judge(route, response.statusCode, response.headers['content-type'], response.body)
            if (!outcome.ok || response.statusCode !== expected)
              throw new Error(
                `${outcome.why ?? `not ${expected}`}: ${describe(route, draft, response.statusCode, response.body)}`,
              )
          },
        ),
      )
    },
  )
}

/** Over-long header sections (a long query, a long token, many headers) over a real socket: 431 problems. */
t.test('every route: a header section over the limit is a 431 problem, before routing', async (tt) => {
  const origin = new URL(await (app as FastifyInstance).listen({ host: '127.0.0.1', port: 0 }))
  const exchange = (request: string) =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: origin.hostname, port: Number(origin.port) })
      const chunks: Buffer[] = []
      socket.on('data', (chunk) => chunks.push(chunk))
      socket.on('error', () => resolve(Buffer.concat(chunks).toString()))
      socket.on('close', () => resolve(Buffer.concat(chunks).toString()))
      socket.write(request)
    })
  for (const route of apiRoutes) {
    const path = pathOf(route, validParams(route))
    for (const [what, target, headers] of [
      ['a 100 KB query', `${path}?q=${'q'.repeat(100_000)}`, ''],
      ['a 100 KB token', path, `Authorization: Bearer ${'A'.repeat(100_000)}\r\n`],
      ['2,000 headers', path, 'X-Noise: 0123456789\r\n'.repeat(2_000)],
    ] as const) {
      const answer = await exchange(`${route.method} ${target} HTTP/1.1\r\n${headers}Host: x\r\n\r\n`)
      const [statusLine = '', ...rest] = answer.split('\r\n')
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4)
      const status = Number(statusLine.split(' ')[1])
      const contentType = /content-type: ([^\r\n]+)/i.exec(rest.join('\r\n'))?.[1]
      const outcome = judge(route, status, contentType, body)
      tt.ok(
        outcome.ok && status === 431,
        `${route.method} ${route.path}, ${what}: ${status} ${outcome.why ?? ''}`,
      )
    }
  }
})

// ---- Every declared bound, just past it ---------------------------------------------------------------
// What the document says is what the server does: for every bound an input declares (maxLength, maxItems,
// maximum, minimum), on a path, query or header parameter, a body field or a field of a body array's items,
// a request otherwise valid but for that one value, just past the bound, is a 400 naming the field. Sent to
// an app with the default BODY_LIMIT_BYTES (4 MiB), so the longest arrays (10,000 calendars) fit: with this
// file's 64 KB limit the body limit would answer 413 first.

/** The schema a bound sits on: the schema itself, or the non-null alternative of a nullable one. */
const boundedSchemaOf = (schema: JsonSchema | undefined): JsonSchema | undefined => {
  const s = resolve(schema)
  if (!s || s.type !== undefined) return s
  return resolve((s.anyOf ?? s.oneOf)?.find((alternative) => resolve(alternative)?.type !== 'null'))
}

/** A valid value of a schema, unique by `index` where it is a string (ids in a list must not repeat). */
function validValue(schema: JsonSchema | undefined, index = 0): unknown {
  const s = boundedSchemaOf(schema)
  if (!s) return 'x'
  if (s.enum) return s.enum[index % s.enum.length]
  if (s.type === 'integer' || s.type === 'number') return s.minimum ?? 0
  if (s.type === 'boolean') return false
  if (s.type === 'array') return []
  if (s.type === 'object') {
    const properties = s.properties ?? {}
    return Object.fromEntries((s.required ?? []).map((name) => [name, validValue(properties[name], index)]))
  }
  return sampleOfFormat(s) ?? `v${index}`
}

/** Values just past a schema's bounds, each with what it breaks. */
function pastBounds(schema: JsonSchema | undefined): { bound: string; value: unknown }[] {
  const s = boundedSchemaOf(schema)
  if (!s) return []
  const values: { bound: string; value: unknown }[] = []
  if (s.maxLength !== undefined)
    values.push({ bound: `maxLength ${s.maxLength}`, value: 'b'.repeat(s.maxLength + 1) })
  if (s.type === 'integer' && s.maximum !== undefined)
    values.push({ bound: `maximum ${s.maximum}`, value: s.maximum + 1 })
  if (s.type === 'integer' && s.minimum !== undefined)
    values.push({ bound: `minimum ${s.minimum}`, value: s.minimum - 1 })
  if (s.maxItems !== undefined)
    values.push({
      bound: `maxItems ${s.maxItems}`,
      value: Array.from({ length: s.maxItems + 1 }, (_, index) => validValue(s.items, index)),
    })
  return values
}

interface BoundCase {
  route: Route
  where: 'path' | 'query' | 'header' | 'body'
  pointer: string
  bound: string
  params: Record<string, string>
  query: [string, string][]
  headers: Record<string, string>
  payload?: string
}

function boundCases(route: Route, operation: Operation): BoundCase[] {
  const params = validParams(route)
  const parameters = operation.parameters ?? []
  const required = parameters.filter((p) => p.in === 'query' && (p as { required?: boolean }).required)
  const query: [string, string][] = required.map((p) => [p.name, String(validValue(p.schema))])
  const base = { route, params, query, headers: {} as Record<string, string> }
  const body = route.body ? (validValue(route.body) as Record<string, unknown>) : undefined
  const payload = body && json(body)
  const cases: BoundCase[] = []
  for (const p of parameters) {
    for (const { bound, value } of pastBounds(p.schema)) {
      const text = String(value)
      if (p.in === 'path')
        cases.push({
          ...base,
          where: 'path',
          pointer: `/${p.name}`,
          bound,
          params: { ...params, [p.name]: encodeURIComponent(text) },
          payload,
        })
      else if (p.in === 'query')
        cases.push({
          ...base,
          where: 'query',
          pointer: `/${p.name}`,
          bound,
          query: [...query.filter(([name]) => name !== p.name), [p.name, text]],
          payload,
        })
      else
        cases.push({
          ...base,
          where: 'header',
          pointer: `/${p.name.toLowerCase()}`,
          bound,
          headers: { [p.name.toLowerCase()]: text },
          payload,
        })
    }
  }
  for (const [name, schema] of Object.entries(route.body?.properties ?? {})) {
    for (const { bound, value } of pastBounds(schema))
      cases.push({
        ...base,
        where: 'body',
        pointer: `/${name}`,
        bound,
        payload: json({ ...body, [name]: value }),
      })
    const items = boundedSchemaOf(schema)?.items
    const itemSchema = boundedSchemaOf(items)
    for (const [field, fieldSchema] of Object.entries(itemSchema?.properties ?? {}))
      for (const { bound, value } of pastBounds(fieldSchema)) {
        const item = { ...(validValue(items) as Record<string, unknown>), [field]: value }
        cases.push({
          ...base,
          where: 'body',
          pointer: `/${name}/0/${field}`,
          bound,
          payload: json({ ...body, [name]: [item] }),
        })
      }
  }
  return cases
}

t.test('every declared bound: a value just past it is a 400 naming the field', async (tt) => {
  const { app: roomy } = await build(tt, { env: { RATE_LIMIT_MAX: '10000000' } })
  const roomyConformance = new Conformance(doc)
  let checked = 0
  for (const [path, operations] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue
    for (const [method, operation] of Object.entries(operations)) {
      const route = apiRoutes.find((r) => r.path === path && r.method === method.toUpperCase())
      if (!route) continue
      for (const c of boundCases(route, operation)) {
        const url = urlOf(route, { params: c.params, query: c.query } as Draft)
        const response = await (roomy as FastifyInstance).inject({
          method: route.method as InjectOptions['method'],
          url,
          headers: {
            authorization: TEST_AUTHORIZATION,
            ...(c.payload !== undefined && { 'content-type': 'application/json' }),
            ...c.headers,
          },
          ...(c.payload !== undefined && { payload: c.payload }),
        })
        roomyConformance.check({
          method: route.method,
          url,
          status: response.statusCode,
          headers: response.headers,
          body: response.body,
        })
        checked++
        const errors =
          response.statusCode === 400
            ? (response.json<{ errors?: { in: string; pointer: string }[] }>().errors ?? [])
            : []
        tt.ok(
          response.statusCode === 400 && errors.some((e) => e.in === c.where && e.pointer === c.pointer),
          `${route.method} ${path}: ${c.where} ${c.pointer} past ${c.bound}: ${response.statusCode} ${response.statusCode === 400 ? JSON.stringify(errors.slice(0, 3)) : response.body.slice(0, 300)}`,
        )
      }
    }
  }
  tt.ok(checked >= 60, `${checked} bounds checked`)
  tt.same(roomyConformance.violations.slice(0, 20), [], 'every answer conforms to the document')
})

t.test('every answer conforms to the served OpenAPI document (status, body, headers)', async (tt) => {
  tt.comment(conformance.report())
  tt.same(conformance.violations.slice(0, 20), [], `no violations among ${conformance.checked} answers`)
})

t.test('the database is unchanged', async (tt) => {
  tt.same(await snapshot(), before, 'every table holds exactly the seeded rows')
  tt.comment(
    `${sent} fuzzed requests in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED}); statuses ${JSON.stringify(
      Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
    )}`,
  )
})
