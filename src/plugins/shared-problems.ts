import fp from 'fastify-plugin'
import { pickProblems } from '../schemas/problem.ts'

/**
 * Documents, on every route of its scope (/v1), the problems any of them can answer: 400 (invalid
 * input), 401 and 403 (authentication), 500, and 503 (the database busy or restarting); 413 and 415
 * on routes that take a body. Statuses that belong to a route (404, 409, 412, 502) stay with it, as
 * rate limiting (429) and idempotency keys (409, 422) add theirs.
 */
export default fp(
  async function sharedProblemsPlugin(app) {
    app.addHook('onRoute', (route) => {
      const takesBody = route.schema?.body !== undefined
      route.schema = {
        ...route.schema,
        response: {
          ...(route.schema?.response as object),
          ...pickProblems(400, 401, 403, 500, 503),
          ...(takesBody && pickProblems(413, 415)),
        },
      }
    })
  },
  { name: 'shared-problems' },
)
