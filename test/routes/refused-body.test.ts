import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { build, TEST_AUTHORIZATION } from '../helpers/build-app.ts'
import { calendarsUrl } from '../helpers/calendars.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

/**
 * Every refused body is read by its client (src/plugins/refused-body.ts), over real sockets: a body over
 * BODY_LIMIT_BYTES, announced by Content-Length or found while streaming, is answered 413 problem+json
 * naming the limit, and the client reads that answer while it is still sending, however much it sends.
 */

const MB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 'x')

interface Outcome {
  /** The answer, if the client read one. */
  status?: number
  contentType?: string
  problem?: { type?: string; detail?: string; status?: number }
  /** The socket error the client saw before it had read an answer (ECONNRESET, EPIPE), if any. */
  errorBeforeAnswer?: string
  /** Bytes the client wrote before it stopped (all, or until the connection failed). */
  sentBytes: number
}

/**
 * A client that sends `bytes` of body (JSON's first byte, then filler) and keeps sending after the answer
 * arrives, until everything is written or the connection fails; it resolves once it is done either way.
 * `bytes: Infinity` sends for as long as the connection takes it.
 */
function sendBody(origin: string, bytes: number, { chunked = false } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { sentBytes: 0 }
    let answered = false
    let finished = false
    const done = () => {
      if (finished) return
      finished = true
      req.destroy()
      resolve(outcome)
    }
    const req = httpRequest(`${origin}${calendarsUrl('big')}`, {
      method: 'PUT',
      headers: {
        authorization: TEST_AUTHORIZATION,
        'content-type': 'application/json',
        ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(bytes) }),
      },
    })
    req.on('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => {
        answered = true
        outcome.status = response.statusCode
        outcome.contentType = response.headers['content-type']
        outcome.problem = JSON.parse(text)
        if (writtenAll) done()
      })
      response.on('error', () => {})
    })
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (!answered) outcome.errorBeforeAnswer = error.code ?? error.message
      done()
    })
    req.on('close', () => setImmediate(done))
    let writtenAll = false
    const write = () => {
      while (!req.destroyed && outcome.sentBytes < bytes) {
        const chunk =
          outcome.sentBytes === 0
            ? Buffer.from('[')
            : CHUNK.subarray(0, Math.min(CHUNK.length, bytes - outcome.sentBytes))
        outcome.sentBytes += chunk.length
        if (!req.write(chunk)) {
          req.once('drain', write)
          return
        }
      }
      if (req.destroyed) return
      writtenAll = true
      req.end()
      if (answered) done()
    }
    write()
  })
}

/**
 * A client that writes its whole request (`bytes` of body by Content-Length) before it reads a byte of the
 * answer, like many synchronous HTTP clients: it reads the 413 only if the server read what it sent
 * instead of resetting the connection (a reset throws away the answer waiting in the client's buffer).
 */
function sendAllThenRead(origin: string, bytes: number): Promise<Outcome> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve) => {
    const outcome: Outcome = { sentBytes: 0 }
    const socket = connect({ host: hostname, port: Number(port) })
    socket.pause()
    let text = ''
    let writtenAll = false
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome.errorBeforeAnswer = error.code ?? error.message
    })
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n')
      const status = /^HTTP\/1\.1 (\d+)/.exec(head)
      if (status) {
        outcome.status = Number(status[1])
        outcome.contentType = /content-type: ([^\r]*)/i.exec(head)?.[1]
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1])
        outcome.problem = JSON.parse(body.slice(0, length))
        if (writtenAll) outcome.errorBeforeAnswer = undefined
      }
      resolve(outcome)
    })
    socket.write(
      `PUT ${calendarsUrl('big')} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${TEST_AUTHORIZATION}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n[`,
    )
    outcome.sentBytes = 1
    const write = () => {
      while (outcome.sentBytes < bytes && !socket.destroyed) {
        const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, bytes - outcome.sentBytes))
        outcome.sentBytes += chunk.length
        if (!socket.write(chunk)) {
          socket.once('drain', write)
          return
        }
      }
      if (socket.destroyed) return
      writtenAll = true
      // Only now does it read; the answer's connection is closed or kept, either ends this client.
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1')
        if (text.includes('\r\n\r\n') && text.length > text.indexOf('\r\n\r\n') + 4 + 100) socket.end()
      })
      socket.resume()
    }
    write()
  })
}

function assertReadTheProblem(t: Test, outcome: Outcome, what: string) {
  t.equal(outcome.errorBeforeAnswer, undefined, `${what}: no reset before the answer`)
  t.equal(outcome.status, 413, `${what}: 413`)
  t.match(outcome.contentType, PROBLEM_CONTENT_TYPE, `${what}: problem+json`)
  t.equal(outcome.problem?.type, 'urn:rostersync:problem:payload-too-large', `${what}: its type`)
  t.match(outcome.problem?.detail, /4194304 bytes \(4 MiB, BODY_LIMIT_BYTES\)/, `${what}: names the limit`)
}

t.test('bodies of 5 to 64 MB over the limit: every client reads the 413 naming the limit', async (t) => {
  const { app } = await build(t, { env: { BODY_LINGER_MS: '20000' } })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  const sizes = [5 * MB, 7 * MB, 16 * MB, 64 * MB]
  // Announced: refused before a byte is read, all at once.
  const announced = await Promise.all(sizes.map((size) => sendBody(origin, size)))
  for (const [i, outcome] of announced.entries())
    assertReadTheProblem(t, outcome, `${(sizes[i] ?? 0) / MB} MB by Content-Length`)
  t.match(announced[0]?.problem?.detail, /the body is 5242880 bytes \(Content-Length\)/)
  // Clients that read nothing before they have sent everything.
  const patient = await Promise.all(sizes.map((size) => sendAllThenRead(origin, size)))
  for (const [i, outcome] of patient.entries())
    assertReadTheProblem(t, outcome, `${(sizes[i] ?? 0) / MB} MB sent whole, then read`)
  // Chunked: found while streaming. One at a time: each is charged the whole limit, one credential's share.
  for (const size of sizes) {
    assertReadTheProblem(t, await sendBody(origin, size, { chunked: true }), `${size / MB} MB chunked`)
  }
  t.equal(app.bodyBytesInFlight(), 0, 'no charge is left behind')
})

t.test('a client that keeps sending after its 413 reads it, and the connection is closed', async (t) => {
  const { app } = await build(t, { env: { BODY_DRAIN_BYTES: String(MB), BODY_LINGER_MS: '1000' } })
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  const [announced, streamed] = await Promise.all([
    sendBody(origin, 1024 * MB),
    sendBody(origin, Number.POSITIVE_INFINITY, { chunked: true }),
  ])
  assertReadTheProblem(t, announced, 'a 1 GB body by Content-Length')
  assertReadTheProblem(t, streamed, 'an endless chunked body')
  t.ok(announced.sentBytes < 1024 * MB, 'the server closed the connection before the body ended')
})

t.test('a refused body that ends within the drain bound keeps its connection', async (t) => {
  const { app } = await build(t)
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const sockets = new Set<unknown>()
  app.server.on('connection', (socket) => sockets.add(socket))
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 2; i++) {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(`${origin}${calendarsUrl('big')}`, {
        method: 'PUT',
        agent,
        headers: { authorization: TEST_AUTHORIZATION, 'content-type': 'application/json' },
      })
      req.on('response', (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode))
      })
      req.on('error', reject)
      req.end(Buffer.alloc(5 * MB, ' '))
    })
    t.equal(status, 413)
  }
  t.equal(sockets.size, 1, 'the second request reused the connection')
})

t.test(
  'a refused body injected without a connection (app.inject) is answered and leaves nothing to close',
  async (t) => {
    const { app } = await build(t, { env: { BODY_LINGER_MS: '20' } })
    const uncaught: unknown[] = []
    const onUncaught = (error: unknown) => uncaught.push(error)
    process.on('uncaughtException', onUncaught)
    t.teardown(() => process.off('uncaughtException', onUncaught))
    const { Readable } = await import('node:stream')
    const response = await app.inject({
      method: 'PUT',
      url: calendarsUrl('big'),
      headers: {
        authorization: TEST_AUTHORIZATION,
        'content-type': 'application/json',
        'content-length': String(5 * MB),
      },
      // A body that never arrives: the 413 goes out on the announced length, with the request unread.
      payload: new Readable({ read() {} }),
    })
    t.equal(response.statusCode, 413)
    // Past the linger: what the drain would have closed is not a socket here, and nothing throws.
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.same(uncaught, [], 'no error after the answer')
  },
)
