import fp from 'fastify-plugin'
import { pickProblems } from './problem-schemas.ts'

/** Methods whose requests Fastify reads a body for (so 413 and 415 are possible, schema or not). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/**
 * Documents, on every route of its scope (/v1), the problems any of them can answer: 400 (invalid
 * input), 401 and 403 (authentication), 408 (headers or body not received in time), 431 (headers too
 * large: Node answers both before routing, as problem+json), 500, and 503 (the database busy or
 * restarting); 413 and 415
 * on every method Fastify reads a body for (a route without a body schema still parses one); 414 on
 * routes with a path parameter (a segment over the router's maxParamLength). Statuses that belong to a
 * route (404, 409, 412, 502) stay with it, as rate limiting (429) and idempotency keys (409, 422) add theirs.
 */
export default fp(
  async function sharedProblemsPlugin(app) {
    app.addHook('onRoute', (route) => {
      const methods = [route.method].flat()
      const readsBody = methods.some((method) => BODY_METHODS.has(method))
      const hasPathParameter = route.url.includes(':')
      route.schema = {
        ...route.schema,
        response: {
          ...(route.schema?.response as object),
          ...pickProblems(400, 401, 403, 408, 431, 500, 503),
          ...(readsBody && pickProblems(413, 415)),
          ...(hasPathParameter && pickProblems(414)),
        },
      }
    })
  },
  { name: 'shared-problems' },
)
