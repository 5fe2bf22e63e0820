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
      parseJson(request, text, done)
    })
  },
  { name: 'json-body' },
)
