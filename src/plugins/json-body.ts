import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** The charset a JSON body is read in (RFC 8259 §8.1: JSON exchanged between systems is UTF-8). */
export const JSON_MEDIA_TYPE = 'application/json; charset=utf-8'

const UTF8_NAMES = new Set(['utf-8', 'utf8'])

/** The `charset` parameter of a Content-Type, lower-cased and unquoted, if it has one. */
function declaredCharset(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '')
  return match ? (match[1] ?? match[2] ?? '').toLowerCase() : undefined
}

/** A refusal of the body before it is parsed; problem-details renders it by its status. */
class BodyRefusal extends Error {
  constructor(
    readonly statusCode: 400 | 415,
    message: string,
  ) {
    super(message)
  }
}

// fatal: invalid UTF-8 throws instead of turning into U+FFFD; ignoreBOM: a BOM stays in the text, where
// the JSON parser refuses it as before.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The JSON body parser: Fastify's own (the same `__proto__` and `constructor` refusals), given text
 * decoded strictly as UTF-8. Fastify's default reads any body as UTF-8 whatever its declared charset and
 * replaces invalid bytes with U+FFFD, so a client's text could be stored other than sent. Here a body
 * declared in another charset is a 415 naming the one to use, and one whose bytes are not UTF-8 a 400;
 * neither is parsed.
 */
export default fp(
  async function jsonBodyPlugin(app) {
    const parseJson = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const charset = declaredCharset(request.headers['content-type'])
      if (charset !== undefined && !UTF8_NAMES.has(charset)) {
        done(
          new BodyRefusal(
            415,
            `the body is declared in charset "${charset}": send JSON as UTF-8, with Content-Type: ${JSON_MEDIA_TYPE} (RFC 8259)`,
          ),
        )
        return
      }
      let text: string
      try {
        text = utf8.decode(body as Buffer)
      } catch {
        done(new BodyRefusal(400, 'the body is not valid UTF-8: send JSON encoded as UTF-8 (RFC 8259)'))
        return
      }
      if (!request.routeOptions.config.keepsJsonBody) {
        parseJson(request, text, done)
        return
      }
      parseJson(request, text, (error, value) => {
        if (!error && membersInText(text) === membersInValue(value)) exactBodies.set(request, body as Buffer)
        done(error, value)
      })
    })
  },
  { name: 'json-body' },
)

/**
 * The bytes of bodies that are exactly what JSON.parse made of them, for routes with `keepsJsonBody`.
 * Weak: a request that ends before its handler takes its body (a 400, a 503) leaves nothing behind.
 */
const exactBodies = new WeakMap<FastifyRequest, Buffer>()

/**
 * The body of a request as JSON bytes (UTF-8), for PostgreSQL to parse as a jsonb parameter: the bytes
 * the client sent (when its route has `keepsJsonBody`), else the validated body serialized again. The
 * parsed body is let go of (request.body becomes undefined), so while its statement runs a large body is
 * held once, as the bytes that came (outside the JavaScript heap), not as objects, a text and the
 * text's copies.
 *
 * The bytes sent are what was validated: every value in them is in the parsed body, which the route's
 * schema checked (strict objects, so no key is unchecked) before the handler runs, and they are valid
 * UTF-8 (the parser refused them otherwise). JSON.parse keeps the last of duplicate names, as jsonb does,
 * but never looks at the values it drops, which PostgreSQL would still parse (and refuse: a \u0000
 * escape, a lone surrogate, a number beyond numeric's range, nesting past its stack). So the bytes are
 * sent only when they have no duplicate names: as many members (a `:` outside strings) as the parsed
 * body has keys. Otherwise the validated body is serialized again, as before.
 */
export function takeJsonBody(request: FastifyRequest): Buffer {
  const bytes = exactBodies.get(request) ?? Buffer.from(JSON.stringify(request.body))
  exactBodies.delete(request)
  request.body = undefined
  return bytes
}

/** Members of the objects in a JSON text: its name separators, the `:` outside strings. */
export function membersInText(text: string): number {
  let members = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // a backslash: the next character is escaped (\" does not end the string)
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x3a) members++
  }
  return members
}

/** Keys of the objects in a parsed JSON value (without recursion: nesting is bounded by the body only). */
export function membersInValue(value: unknown): number {
  let members = 0
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const next = pending.pop()
    if (typeof next !== 'object' || next === null) continue
    if (Array.isArray(next)) {
      for (const item of next) pending.push(item)
      continue
    }
    // for-in, not Object.keys: no array per object (a parsed body's objects inherit no enumerable key,
    // and Object.hasOwn keeps it exact for any other).
    for (const key in next) {
      if (!Object.hasOwn(next, key)) continue
      members++
      pending.push((next as Record<string, unknown>)[key])
    }
  }
  return members
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Keep the body's bytes for takeJsonBody (a route that hands its body to PostgreSQL as jsonb). */
    keepsJsonBody?: boolean
  }
}
