import fp from 'fastify-plugin'

/**
 * Graceful shutdown must not wait for clients' keep-alive connections: once the app is closing, every
 * response tells its client to close the connection, so close() ends when the last in-flight request
 * has been answered instead of when keep-alive times out.
 */
export default fp(
  async function drainPlugin(app) {
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close')
    })
  },
  { name: 'drain' },
)
