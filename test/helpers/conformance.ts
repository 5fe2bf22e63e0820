import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

/**
 * Checks answers against the OpenAPI document the server serves: the status must be declared for the
 * operation, the body must match the declared schema of its media type (no body where none is
 * declared), every declared header must be valid when present and present when `required`, and no
 * header may be sent that the response does not declare (besides the transport's own).
 *
 * An answer is checked against the operation whose path template matches the request's path, so a
 * request that reaches no operation (an unknown route: a 404 problem) is checked as a problem answer
 * and counted as `(no operation)`. Counts per operation and status are kept for the report.
 */

type Json = Record<string, unknown>

interface Document {
  paths: Record<string, Record<string, Json>>
  components?: Json & { headers?: Record<string, Json> }
}

export interface Answer {
  method: string
  /** The request's path as sent (percent-encoded), with or without the query string. */
  url: string
  status: number
  /** Response headers; names in any case. */
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** Headers HTTP itself adds, which no API document declares (OpenAPI ignores a declared Content-Type). */
const TRANSPORT_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
])

const ROOT_ID = 'openapi.json'
const NO_OPERATION = '(no operation)'

const escapePointer = (part: string) => part.replaceAll('~', '~0').replaceAll('/', '~1')
const pointer = (...parts: string[]) => `${ROOT_ID}#/${parts.map(escapePointer).join('/')}`

interface Template {
  method: string
  path: string
  pattern: RegExp
}

export class Conformance {
  readonly #document: Document
  readonly #ajv: Ajv2020
  readonly #templates: Template[]
  readonly #validators = new Map<string, ValidateFunction>()
  /** `METHOD /path status` -> answers checked. */
  readonly counts = new Map<string, number>()
  readonly violations: string[] = []
  checked = 0

  constructor(document: unknown) {
    this.#document = document as Document
    // The whole document is one schema resource, so `#/components/...` refs resolve inside it. strict
    // is off because most of it (paths, info) is no JSON Schema keyword.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false })
    addFormats.default(this.#ajv)
    this.#ajv.addSchema({ ...(document as object), $id: ROOT_ID })
    this.#templates = Object.entries(this.#document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => ({
        method: method.toUpperCase(),
        path,
        pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      })),
    )
  }

  /** Checks one answer; returns its violations (also collected in `violations`). */
  check(answer: Answer): string[] {
    this.checked++
    const path = withoutDotSegments(answer.url.split('?')[0] ?? '')
    const template = this.#templates.find((t) => t.method === answer.method && t.pattern.test(path))
    const key = template ? `${template.method} ${template.path}` : NO_OPERATION
    const countKey = `${key} ${answer.status}`
    this.counts.set(countKey, (this.counts.get(countKey) ?? 0) + 1)
    const found = template
      ? this.#checkOperation(template, answer)
      : this.#checkProblem(answer, ['components', 'schemas', 'Problem'])
    const violations = found.map((v) => `${answer.method} ${truncate(answer.url)} -> ${answer.status}: ${v}`)
    this.violations.push(...violations)
    return violations
  }

  #checkOperation(template: Template, answer: Answer): string[] {
    const operation = this.#document.paths[template.path]?.[template.method.toLowerCase()]
    const responses = (operation?.responses ?? {}) as Record<string, Json>
    const response = responses[String(answer.status)]
    if (!response)
      return [`status ${answer.status} is not declared (declared: ${Object.keys(responses).join(' ')})`]
    const base = ['paths', template.path, template.method.toLowerCase(), 'responses', String(answer.status)]
    return [...this.#checkBody(answer, response, base), ...this.#checkHeaders(answer, response, base)]
  }

  /** An answer outside every operation: a problem+json. */
  #checkProblem(answer: Answer, schemaPath: string[]): string[] {
    const mediaType = mediaTypeOf(answer.headers)
    if (mediaType !== 'application/problem+json') return [`content-type ${mediaType} outside any operation`]
    return this.#validate(pointer(...schemaPath), parseJson(answer.body), 'body')
  }

  #checkBody(answer: Answer, response: Json, base: string[]): string[] {
    const content = response.content as Record<string, unknown> | undefined
    if (!content) return answer.body === '' ? [] : ['a body where the response declares none']
    const mediaType = mediaTypeOf(answer.headers)
    if (!mediaType || !(mediaType in content))
      return [`content-type ${mediaType} is not declared (declared: ${Object.keys(content).join(' ')})`]
    return this.#validate(pointer(...base, 'content', mediaType, 'schema'), parseJson(answer.body), 'body')
  }

  #checkHeaders(answer: Answer, response: Json, base: string[]): string[] {
    const declared = new Map<string, Json>()
    for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, Json>))
      declared.set(name.toLowerCase(), this.#header(header))
    const sent = new Map(
      Object.entries(answer.headers)
        .filter(([, value]) => value !== undefined)
        .map(([name, value]) => [name.toLowerCase(), [value].flat().join(', ')] as const),
    )
    const violations: string[] = []
    for (const [name, header] of declared) {
      const value = sent.get(name)
      if (value === undefined) {
        if (header.required === true) violations.push(`required header ${name} is missing`)
        continue
      }
      const schema = header.schema as Json
      const schemaPointer = this.#headerSchemaPointer(response, name, base)
      violations.push(...this.#validate(schemaPointer, coerce(value, schema), `header ${name}`))
    }
    for (const name of sent.keys())
      if (!declared.has(name) && !TRANSPORT_HEADERS.has(name))
        violations.push(`header ${name} is not declared`)
    return violations
  }

  #header(header: Json): Json {
    const ref = header.$ref
    if (typeof ref !== 'string') return header
    const name = ref.split('/').pop() ?? ''
    return this.#document.components?.headers?.[name] ?? {}
  }

  #headerSchemaPointer(response: Json, lowerName: string, base: string[]): string {
    const headers = (response.headers ?? {}) as Record<string, Json>
    const name = Object.keys(headers).find((n) => n.toLowerCase() === lowerName) ?? lowerName
    const ref = headers[name]?.$ref
    if (typeof ref === 'string') return pointer('components', 'headers', ref.split('/').pop() ?? '', 'schema')
    return pointer(...base, 'headers', name, 'schema')
  }

  #validate(schemaPointer: string, value: unknown, what: string): string[] {
    let validate = this.#validators.get(schemaPointer)
    if (!validate) {
      const compiled = this.#ajv.getSchema(schemaPointer)
      if (!compiled) return [`no schema at ${schemaPointer}`]
      validate = compiled
      this.#validators.set(schemaPointer, validate)
    }
    if (validate(value)) return []
    return (validate.errors ?? []).map(
      (e) =>
        `${what}${e.instancePath} ${e.message ?? 'invalid'} (${e.schemaPath}) in ${truncate(JSON.stringify(value))}`,
    )
  }

  /** The counts as `METHOD /path: status×n ...` lines, one per operation, and the total. */
  report(): string {
    const byOperation = new Map<string, string[]>()
    for (const [key, n] of [...this.counts].sort(([a], [b]) => a.localeCompare(b))) {
      const at = key.lastIndexOf(' ')
      const operation = key.slice(0, at)
      byOperation.set(operation, [...(byOperation.get(operation) ?? []), `${key.slice(at + 1)}×${n}`])
    }
    const lines = [...byOperation].map(([operation, statuses]) => `${operation}: ${statuses.join(' ')}`)
    return [
      `${this.checked} answers checked against the served OpenAPI document, ${this.violations.length} violations`,
      ...lines,
    ].join('\n')
  }
}

/**
 * The path as the server routes it: `.` and `..` segments (also written `%2E`) are removed first, as
 * RFC 3986 says, so `/v1/users/./calendars` is `/v1/users/calendars`, which is no operation.
 */
function withoutDotSegments(path: string): string {
  try {
    return new URL(path, 'http://server').pathname
  } catch {
    return path
  }
}

function mediaTypeOf(headers: Answer['headers']): string | undefined {
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type')
  const value = entry?.[1]
  return value === undefined ? undefined : String(value).split(';')[0]?.trim().toLowerCase()
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return { 'not JSON': body.slice(0, 200) }
  }
}

/** A header's text as the JSON value its schema describes (headers are text on the wire). */
function coerce(value: string, schema: Json | undefined): unknown {
  const type = schema?.type
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value)
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true'
  return value
}

const truncate = (text: string, max = 200) =>
  text.length > max ? `${text.slice(0, max)}…(${text.length})` : text

export { NO_OPERATION }
