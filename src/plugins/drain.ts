import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shutdown's drain: src/server.ts begins it on SIGTERM, before it closes the app. */
    drain: Drain
  }
}

/**
 * The first step of a graceful shutdown (docs/operations.md "Shutdown"). Once it has begun, readiness answers 503
 * (so a load balancer stops sending new work here) while the server keeps serving, and every answer
 * carries `Connection: close`, so each client closes its connection after its answer instead of
 * reusing it at the moment the server closes it (the keep-alive race). Whatever takes work on its own
 * (the reconcile workers) stops taking it when the drain begins.
 */
class Drain {
  private begun = false
  private readonly listeners: (() => void)[] = []

  get draining(): boolean {
    return this.begun
  }

  /** Begins the drain; later calls do nothing. */
  begin(): void {
    if (this.begun) return
    this.begun = true
    for (const listener of this.listeners) listener()
  }

  /** Runs `listener` when the drain begins; what must be awaited, the app's close hooks await. */
  onBegin(listener: () => void): void {
    this.listeners.push(listener)
  }
}

/**
 * Decorates app.drain. Closing the app begins the drain too (tests, a shutdown without a drain
 * period), so close() ends when the last in-flight request has been answered instead of when
 * keep-alive times out.
 */
export default fp(
  async function drainPlugin(app) {
    const drain = new Drain()
    app.decorate('drain', drain)
    app.addHook('preClose', async () => drain.begin())
    // Callback hooks, here and in the other per-request hooks: an async one costs every request a
    // promise and a trip through the microtask queue (docs/performance.md).
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (drain.draining) reply.header('connection', 'close')
      done(null, payload)
    })
  },
  { name: 'drain' },
)
