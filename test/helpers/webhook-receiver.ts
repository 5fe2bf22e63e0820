import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** One request the receiver got, as it got it. */
export interface ReceivedWebhook {
  id: string
  timestamp: string
  signature: string
  body: string
  /** The W3C traceparent header as received, when there was one. */
  traceparent: string | undefined
  /** What the receiver answered: a status, or the fault it injected. */
  answer: number | 'dropped' | 'slow'
}

/** What to do with a request: answer a status, drop the connection, or answer after `ms`. */
export type ReceiverAction =
  | { status: number; headers?: Record<string, string> }
  | { drop: true }
  | { slowMs: number }

/**
 * A real HTTP server standing in for a webhook receiver. `behave` picks each answer (faults included);
 * every request is recorded, faulty ones too.
 */
export async function startWebhookReceiver(
  t: Teardown,
  behave: (n: number) => ReceiverAction = () => ({ status: 204 }),
) {
  const received: ReceivedWebhook[] = []
  let behaviour = behave
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const action = behaviour(received.length)
      const record: ReceivedWebhook = {
        id: String(request.headers['webhook-id']),
        timestamp: String(request.headers['webhook-timestamp']),
        signature: String(request.headers['webhook-signature']),
        body: Buffer.concat(chunks).toString('utf8'),
        traceparent:
          typeof request.headers.traceparent === 'string' ? request.headers.traceparent : undefined,
        answer: 'drop' in action ? 'dropped' : 'slowMs' in action ? 'slow' : action.status,
      }
      received.push(record)
      if ('drop' in action) return request.socket.destroy()
      if ('slowMs' in action) {
        const timer = setTimeout(() => response.writeHead(204).end(), action.slowMs)
        response.once('close', () => clearTimeout(timer))
        return
      }
      response.writeHead(action.status, action.headers).end('{"ok":true}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    received,
    /** Requests answered 2xx. */
    accepted: () => received.filter((r) => typeof r.answer === 'number' && r.answer >= 200 && r.answer < 300),
    behave(next: (n: number) => ReceiverAction) {
      behaviour = next
    },
  }
}

/** Our own HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed with the secret's decoded bytes (the specification). */
export function expectedSignature(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}
