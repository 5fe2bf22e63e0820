import net from 'node:net'

/**
 * A TCP proxy in front of PostgreSQL that counts round trips, with the definition of
 * /work/shared/tools/pg-wire-proxy.mjs (the tool the docs' figures come from): a round trip starts when
 * the client sends after the server answered its previous send. Each is counted under the label that
 * was current when it started, so a test counts what one request cost.
 */
export interface RoundTripCounter {
  /** A URL like `databaseUrl`, through the proxy. */
  url: string
  /**
   * Counts the round trips `work` causes (every connection), and returns them with its result;
   * `statements` leaves out those of opening a connection (startup, authentication).
   */
  count<T>(work: () => Promise<T>): Promise<{ result: T; roundTrips: number; statements: number }>
  close(): Promise<void>
}

export async function startRoundTripCounter(databaseUrl: string): Promise<RoundTripCounter> {
  const target = new URL(databaseUrl)
  let counting = false
  let counted = 0
  let statements = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    sockets.add(client).add(upstream)
    let answered = true
    client.on('data', (chunk) => {
      if (answered && counting) {
        counted++
        // A statement starts with Parse (extended protocol) or Query (simple); a connection's first
        // messages (startup, SASL) start otherwise.
        if (chunk[0] === 0x50 || chunk[0] === 0x51) statements++
      }
      answered = false
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      answered = true
      client.write(chunk)
    })
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    for (const socket of [client, upstream]) {
      socket.on('close', close)
      socket.on('error', () => {})
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(databaseUrl)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as net.AddressInfo).port)
  return {
    url: url.toString(),
    async count(work) {
      counted = 0
      statements = 0
      counting = true
      try {
        const result = await work()
        return { result, roundTrips: counted, statements }
      } finally {
        counting = false
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
