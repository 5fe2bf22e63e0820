import { readdirSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import type { FastifyReply } from 'fastify'
import fp from 'fastify-plugin'

interface ConsolePluginOptions {
  /** The built console (npm run build writes dist/console). */
  dir: string
}

interface ServedFile {
  body: Buffer
  type: string
  cacheControl: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}

/**
 * The page may load and call nothing but this server: no CDN, no font or analytics host, no inline
 * script; it works offline.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

/**
 * Serves the operator console, a static client of the public /v1 API, at /console/. The files are read
 * once at start: index.html is revalidated on every visit (no-cache), the bundles, whose names carry a
 * hash of their content, are cached for good. Without a build, /console answers 503 saying how to make one.
 */
export default fp<ConsolePluginOptions>(
  async function consolePlugin(app, { dir }) {
    const files = readBuild(dir)
    const send = (reply: FastifyReply, name: string) => {
      if (files === undefined) {
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send(
            `The console is not built: run \`npm run build\` (it writes ${dir}), then restart the server.\n`,
          )
      }
      const file = files.get(name)
      if (file === undefined) return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n')
      return reply
        .header('content-type', file.type)
        .header('cache-control', file.cacheControl)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(file.body)
    }
    const hide = { schema: { hide: true } }
    app.get('/console', hide, (_request, reply) => reply.redirect('/console/', 301))
    app.get('/console/', hide, (_request, reply) => send(reply, 'index.html'))
    app.get<{ Params: { file: string } }>('/console/:file', hide, (request, reply) =>
      send(reply, request.params.file),
    )
  },
  { name: 'console' },
)

/** The built files by name, or undefined when there is no build. */
function readBuild(dir: string): Map<string, ServedFile> | undefined {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return undefined
  }
  if (!names.includes('index.html')) return undefined
  const files = new Map<string, ServedFile>()
  for (const name of names) {
    const type = TYPES[extname(name)]
    if (type === undefined) continue
    files.set(name, {
      body: readFileSync(join(dir, name)),
      type,
      cacheControl: name === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
    })
  }
  return files
}
