import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { readBoundedAnswer } from './bounded-answer.ts'
import type { SsrfGuard } from './ssrf-guard.ts'

/** What one attempt came to. */
export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  /** 410 Gone: the receiver asks us to stop; the endpoint is disabled. */
  | { kind: 'gone'; status: number }
  /** Anything else: retried on the schedule, or after Retry-After when the receiver gave one. */
  | { kind: 'failed'; status: number | null; error: string; retryAfterMs: number | null }

interface WebhookRequest {
  url: string
  headers: Record<string, string>
  body: string
  /** Aborts the attempt (the shutdown cutting it short): it fails at once. */
  signal?: AbortSignal
}

/** Statuses whose Retry-After we honour. */
const RETRY_AFTER_STATUSES = new Set([429, 502, 503, 504])
/** The longest Retry-After taken as given: a day, the specification's longest delay. */
const MAX_RETRY_AFTER_MS = 86_400_000

/**
 * How long a connection to a receiver stays open with nothing to send. Deliveries to one endpoint reuse
 * their connections while a backlog goes out; an idle one closes soon after (and before a receiver's
 * own Keep-Alive timeout, which Node's agent reads), so a new connection, with a new DNS lookup under
 * the SSRF guard, is made at most this long after the last delivery.
 */
const IDLE_CONNECTION_MS = 2_000

interface WebhookSenderOptions {
  guard: SsrfGuard
  timeoutMs: number
}

/**
 * Makes one delivery attempt: POST, no redirects followed (a 3xx is a failure), connected only to an
 * address the SSRF guard accepted when the connection was made, everything (connect, send, answer)
 * within timeoutMs, and at most a few KB of the answer read. Connections are kept per receiver origin
 * while deliveries keep coming (IDLE_CONNECTION_MS): a connection made for one attempt carries the
 * next, which spares both sides a TCP (and TLS) handshake per event. An answer read to its end leaves
 * its connection reusable; a longer one, a timeout or a cut-short attempt closes it.
 */
export class WebhookSender {
  private readonly agents = new Map<string, HttpAgent>()

  constructor(private readonly options: WebhookSenderOptions) {}

  /** Closes every kept connection (the app closing). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }

  /** The agent keeping the connections to `url`'s origin; each new connection is checked by the guard. */
  private agentFor(url: URL): HttpAgent {
    let agent = this.agents.get(url.origin)
    if (!agent) {
      const options = { keepAlive: true, timeout: IDLE_CONNECTION_MS, lookup: this.options.guard.lookup }
      agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options)
      this.agents.set(url.origin, agent)
    }
    return agent
  }

  async send(message: WebhookRequest): Promise<AttemptOutcome> {
    let url: URL
    try {
      url = this.options.guard.checkScheme(message.url)
    } catch (error) {
      return failed(null, `refused: the URL ${(error as Error).message}`)
    }
    try {
      const { status, retryAfter, snippet } = await this.post(url, message)
      if (status >= 200 && status < 300) return { kind: 'delivered', status }
      if (status === 410) return { kind: 'gone', status }
      if (status >= 300 && status < 400)
        return failed(status, `answered ${status}: redirects are not followed`)
      const retryAfterMs = RETRY_AFTER_STATUSES.has(status) ? parseRetryAfter(retryAfter) : null
      return failed(status, `answered ${status}${snippet ? `: ${snippet.slice(0, 200)}` : ''}`, retryAfterMs)
    } catch (error) {
      return failed(null, (error as Error).message)
    }
  }

  private post(url: URL, message: WebhookRequest) {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise<{ status: number; retryAfter: string | undefined; snippet: string }>(
      (resolve, reject) => {
        const body = Buffer.from(message.body)
        const req = request(url, {
          method: 'POST',
          headers: { ...message.headers, 'content-type': 'application/json', 'content-length': body.length },
          agent: this.agentFor(url),
        })
        const deadline = setTimeout(
          () => req.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)),
          this.options.timeoutMs,
        )
        const cutShort = () => req.destroy(new Error('cut short: the instance is shutting down'))
        message.signal?.addEventListener('abort', cutShort, { once: true })
        const settled = () => {
          clearTimeout(deadline)
          message.signal?.removeEventListener('abort', cutShort)
        }
        req.once('error', (error) => {
          settled()
          reject(error)
        })
        req.once('response', (answer: IncomingMessage) => {
          // Read to its end, the answer leaves the connection to the next attempt; readBoundedAnswer
          // closes it when the answer is longer than it reads.
          readBoundedAnswer(answer).then((snippet) => {
            settled()
            resolve({ status: answer.statusCode ?? 0, retryAfter: answer.headers['retry-after'], snippet })
          })
        })
        req.end(body)
        if (message.signal?.aborted) cutShort()
      },
    )
  }
}

function failed(status: number | null, error: string, retryAfterMs: number | null = null): AttemptOutcome {
  return { kind: 'failed', status, error, retryAfterMs }
}

/** Retry-After in seconds or as an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now
  if (!Number.isFinite(ms)) return null
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms))
}
