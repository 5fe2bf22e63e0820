import pg from 'pg'
import { connectionErrorDetails } from './pool.ts'

export interface NotificationListenerOptions {
  connectionString: string
  /** The channel to LISTEN on (an SQL identifier: lower case letters, digits and underscores). */
  channel: string
  /** Each notification's payload. */
  onNotification(payload: string | undefined): void
  /** Each time the listener is (again) connected and listening: whatever was sent meanwhile was lost. */
  onListening(): void
  connectTimeoutMs: number
  /** Wait before connecting again after the connection was lost or could not be made. */
  reconnectMs: number
  log: { warn(obj: object, msg: string): void; debug?(obj: object, msg: string): void }
}

/**
 * PostgreSQL LISTEN on a dedicated connection (a pooled one would be handed back and forth, and the
 * LISTEN with it). When the connection is lost (restart, failover, pg_terminate_backend) it connects
 * again after `reconnectMs`, as long as it runs; `onListening` then tells the owner that notifications
 * may have been missed. A connection error never escapes as an unhandled `error` event.
 */
export class NotificationListener {
  #client: pg.Client | undefined
  #running = false
  #retry: NodeJS.Timeout | undefined

  constructor(private readonly options: NotificationListenerOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new Error(`invalid channel: ${options.channel}`)
  }

  /** Whether a connection is listening now (for tests and health). */
  get listening(): boolean {
    return this.#client !== undefined
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    void this.#connect()
  }

  async stop(): Promise<void> {
    this.#running = false
    clearTimeout(this.#retry)
    const client = this.#client
    this.#client = undefined
    await client?.end().catch(() => {})
  }

  async #connect(): Promise<void> {
    if (!this.#running) return
    const { options } = this
    const client = new pg.Client({
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs,
      application_name: 'rostersync-listen',
    })
    let lost = false
    const onLost = (err?: Error) => {
      if (lost) return
      lost = true
      if (this.#client === client) this.#client = undefined
      client.end().catch(() => {})
      if (!this.#running) return
      options.log.warn(
        { err: err ? connectionErrorDetails(err) : undefined, channel: options.channel },
        'notification listener lost its connection; listening again shortly (polling covers the gap)',
      )
      this.#retry = setTimeout(() => void this.#connect(), options.reconnectMs)
      this.#retry.unref()
    }
    client.on('error', onLost)
    client.on('end', () => onLost())
    client.on('notification', (message) => {
      if (message.channel === options.channel) options.onNotification(message.payload)
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${options.channel}`)
    } catch (error) {
      onLost(error as Error)
      return
    }
    if (!this.#running) {
      await client.end().catch(() => {})
      return
    }
    this.#client = client
    options.log.debug?.({ channel: options.channel }, 'listening for notifications')
    options.onListening()
  }
}
