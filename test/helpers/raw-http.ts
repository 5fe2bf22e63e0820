import { connect, type Socket } from 'node:net'
import { TEST_AUTHORIZATION } from './build-app.ts'
import { waitFor } from './wait.ts'

/** HTTP requests written by hand on a socket of their own, for tests that must control when each byte goes. */

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** When the server closed the connection (Date.now()). */
  closedAt: number
}

/**
 * A PUT on a socket of its own: its headers (Content-Length `declared`), then `first` bytes of body, and
 * `send` for more. `answer` resolves once the server has closed the connection (it never does for a
 * keep-alive answer: every answer awaited here must close it).
 */
export function rawPut(
  origin: string,
  path: string,
  declared: number,
  first = '',
  authorization = TEST_AUTHORIZATION,
) {
  const { hostname, port } = new URL(origin)
  const socket: Socket = connect(Number(port), hostname)
  socket.write(
    `PUT ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${authorization}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n${first}`,
  )
  const chunks: Buffer[] = []
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('error', reject)
    socket.once('end', () =>
      resolve({ ...parseAnswer(Buffer.concat(chunks).toString('utf8')), closedAt: Date.now() }),
    )
  })
  /** The first whole answer, without waiting for the connection to close (a keep-alive answer). */
  const received = () =>
    waitFor('a whole answer', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const answer = parseAnswer(text)
      const length = Number(answer.headers['content-length'])
      return text.includes('\r\n\r\n') && Buffer.byteLength(answer.body) >= length ? answer : undefined
    })
  return { socket, answer, received, send: (text: string) => socket.write(text) }
}

export function parseAnswer(text: string): Omit<RawAnswer, 'closedAt'> {
  const [head = '', ...rest] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}
