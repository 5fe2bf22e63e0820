import dc from 'node:diagnostics_channel'
import type { FastifyInstance, InjectOptions, RouteOptions } from 'fastify'
import { SignJWT } from 'jose'
import t from 'tap'
import type { Access } from '../../src/auth/access.ts'
import { build, TEST_AUTHORIZATION } from '../helpers/build-app.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

/**
 * Authorization, route by route: every /v1 route the app registers (collected from the app itself,
 * so a new route cannot be missed) is called as each principal, and each must be refused (403, or 401
 * without valid credentials) or let through (any status but 401 and 403) as its declared access says
 * (src/auth/access.ts). A route missing from ROUTES fails the test, and so does a route whose declared
 * access differs from the one written here.
 */

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
const OWNER = 'alice'

type Principal = 'service key' | 'admin user' | 'management user' | 'owner user' | 'other user'
type Anonymous = 'no token' | 'malformed token'

/** The principals each access lets through; every other principal is refused with 403. */
const ALLOWED: Record<Access, Principal[]> = {
  'calendar-owner': ['service key', 'owner user'],
  crew: ['service key', 'admin user', 'management user'],
  admin: ['service key', 'admin user'],
  service: ['service key'],
}

interface RouteCase {
  access: Access
  /** The URL with valid params (the owner's userId where the route has one). */
  url: string
  body?: unknown
}

const crewCall = '/v1/jobs/job-1/crew-calls/sound'
const calendars = `/v1/users/${OWNER}/calendars`

/** Every /v1 route: `METHOD /path/:param` -> its access and a valid request. */
const ROUTES: Record<string, RouteCase> = {
  'GET /v1/users/:userId/calendars': { access: 'calendar-owner', url: calendars },
  'HEAD /v1/users/:userId/calendars': { access: 'calendar-owner', url: calendars },
  'PUT /v1/users/:userId/calendars': {
    access: 'calendar-owner',
    url: calendars,
    body: { calendars: [{ calendarId: 'work@example.com', summary: 'Work' }] },
  },
  'GET /v1/users/:userId/calendars/history': { access: 'calendar-owner', url: `${calendars}/history` },
  'HEAD /v1/users/:userId/calendars/history': { access: 'calendar-owner', url: `${calendars}/history` },
  'GET /v1/users/:userId/calendars/changes': {
    access: 'calendar-owner',
    url: `${calendars}/changes?since=0`,
  },
  'HEAD /v1/users/:userId/calendars/changes': {
    access: 'calendar-owner',
    url: `${calendars}/changes?since=0`,
  },
  'POST /v1/users/:userId/calendars/restore': {
    access: 'calendar-owner',
    url: `${calendars}/restore`,
    body: { version: 1 },
  },
  'PUT /v1/technicians/:technicianId': {
    access: 'crew',
    url: '/v1/technicians/tech-1',
    body: { name: 'Tech One', flexResourceId: 'res-1' },
  },
  'GET /v1/technicians/:technicianId': { access: 'crew', url: '/v1/technicians/tech-1' },
  'HEAD /v1/technicians/:technicianId': { access: 'crew', url: '/v1/technicians/tech-1' },
  'GET /v1/technicians': { access: 'crew', url: '/v1/technicians' },
  'HEAD /v1/technicians': { access: 'crew', url: '/v1/technicians' },
  'GET /v1/technicians/:technicianId/assignments': {
    access: 'crew',
    url: '/v1/technicians/tech-1/assignments',
  },
  'HEAD /v1/technicians/:technicianId/assignments': {
    access: 'crew',
    url: '/v1/technicians/tech-1/assignments',
  },
  'DELETE /v1/technicians/:technicianId': { access: 'crew', url: '/v1/technicians/tech-gone' },
  'PUT /v1/jobs/:jobId/crew-calls/:department': {
    access: 'crew',
    url: crewCall,
    body: { flexElementId: 'element-1' },
  },
  'GET /v1/jobs/:jobId/crew-calls/:department': { access: 'crew', url: crewCall },
  'HEAD /v1/jobs/:jobId/crew-calls/:department': { access: 'crew', url: crewCall },
  'DELETE /v1/jobs/:jobId/crew-calls/:department': {
    access: 'crew',
    url: '/v1/jobs/job-gone/crew-calls/sound',
  },
  'GET /v1/jobs/:jobId/crew-calls': { access: 'crew', url: '/v1/jobs/job-1/crew-calls' },
  'HEAD /v1/jobs/:jobId/crew-calls': { access: 'crew', url: '/v1/jobs/job-1/crew-calls' },
  'GET /v1/jobs/:jobId/crew-calls/:department/assignments': {
    access: 'crew',
    url: `${crewCall}/assignments`,
  },
  'HEAD /v1/jobs/:jobId/crew-calls/:department/assignments': {
    access: 'crew',
    url: `${crewCall}/assignments`,
  },
  'PUT /v1/jobs/:jobId/crew-calls/:department/assignments': {
    access: 'crew',
    url: `${crewCall}/assignments`,
    body: { assignments: [{ technicianId: 'tech-1' }] },
  },
  'PUT /v1/jobs/:jobId/crew-calls/:department/assignments/:technicianId': {
    access: 'crew',
    url: `${crewCall}/assignments/tech-1`,
    body: {},
  },
  'DELETE /v1/jobs/:jobId/crew-calls/:department/assignments/:technicianId': {
    access: 'crew',
    url: `${crewCall}/assignments/tech-gone`,
  },
  'GET /v1/jobs/:jobId/crew-calls/:department/assignments/history': {
    access: 'crew',
    url: `${crewCall}/assignments/history`,
  },
  'HEAD /v1/jobs/:jobId/crew-calls/:department/assignments/history': {
    access: 'crew',
    url: `${crewCall}/assignments/history`,
  },
  'GET /v1/jobs/:jobId/crew-calls/:department/assignments/changes': {
    access: 'crew',
    url: `${crewCall}/assignments/changes?since=0`,
  },
  'HEAD /v1/jobs/:jobId/crew-calls/:department/assignments/changes': {
    access: 'crew',
    url: `${crewCall}/assignments/changes?since=0`,
  },
  'POST /v1/jobs/:jobId/crew-calls/:department/assignments/restore': {
    access: 'crew',
    url: `${crewCall}/assignments/restore`,
    body: { version: 1 },
  },
  'POST /v1/jobs/:jobId/crew-calls/:department/sync': { access: 'crew', url: `${crewCall}/sync` },
  'POST /v1/jobs/:jobId/sync': { access: 'crew', url: '/v1/jobs/job-1/sync' },
  'GET /v1/sync-runs': { access: 'crew', url: '/v1/sync-runs' },
  'HEAD /v1/sync-runs': { access: 'crew', url: '/v1/sync-runs' },
  'GET /v1/crew-calls': { access: 'crew', url: '/v1/crew-calls' },
  'HEAD /v1/crew-calls': { access: 'crew', url: '/v1/crew-calls' },
  'GET /v1/sync-status': { access: 'crew', url: '/v1/sync-status' },
  'HEAD /v1/sync-status': { access: 'crew', url: '/v1/sync-status' },
  'POST /v1/webhook-endpoints': {
    access: 'admin',
    url: '/v1/webhook-endpoints',
    // A public address literal: the SSRF guard accepts it without a DNS lookup.
    body: { url: 'https://93.184.215.14/hook' },
  },
  'GET /v1/webhook-endpoints': { access: 'admin', url: '/v1/webhook-endpoints' },
  'HEAD /v1/webhook-endpoints': { access: 'admin', url: '/v1/webhook-endpoints' },
  'GET /v1/webhook-endpoints/:id': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001',
  },
  'HEAD /v1/webhook-endpoints/:id': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001',
  },
  'PATCH /v1/webhook-endpoints/:id': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001',
    body: { enabled: false },
  },
  'DELETE /v1/webhook-endpoints/:id': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001',
  },
  'POST /v1/webhook-endpoints/:id/rotate-secret': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001/rotate-secret',
  },
  'GET /v1/webhook-endpoints/:id/deliveries': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001/deliveries',
  },
  'HEAD /v1/webhook-endpoints/:id/deliveries': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001/deliveries',
  },
  'POST /v1/webhook-endpoints/:id/deliveries/:deliveryId/retry': {
    access: 'admin',
    url: '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000001/deliveries/00000000-0000-4000-8000-000000000002/retry',
  },
  'GET /v1/admin/integrity': { access: 'admin', url: '/v1/admin/integrity' },
  'HEAD /v1/admin/integrity': { access: 'admin', url: '/v1/admin/integrity' },
}

function userToken(sub: string, role?: string): Promise<string> {
  return new SignJWT({ sub, ...(role && { role }) })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET))
}

const AUTHORIZATION: Record<Principal | Anonymous, string | undefined> = {
  'service key': TEST_AUTHORIZATION,
  'admin user': `Bearer ${await userToken('root', 'admin')}`,
  'management user': `Bearer ${await userToken('boss', 'management')}`,
  'owner user': `Bearer ${await userToken(OWNER)}`,
  'other user': `Bearer ${await userToken('mallory')}`,
  'no token': undefined,
  'malformed token': 'Bearer not.a-jwt',
}

// Every route the app registers, with its declared access, seen as it is added: fastify publishes each
// new instance on this channel before any plugin runs, so the hook sees every route of every scope.
const registered = new Map<string, Access>()
const collectRoutes = ({ fastify }: { fastify: FastifyInstance }) => {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    if (!route.url.startsWith('/v1')) return
    const access = (route.config as { access?: Access } | undefined)?.access ?? 'service'
    for (const method of [route.method].flat()) registered.set(`${method} ${route.url}`, access)
  })
}
dc.subscribe('fastify.initialization', collectRoutes as (message: unknown) => void)
const { app } = await build(t, { env: { AUTH_JWT_SECRET: SECRET } })
dc.unsubscribe('fastify.initialization', collectRoutes as (message: unknown) => void)

t.test('the table lists every registered /v1 route with its declared access, and no other', async (t) => {
  t.ok(registered.size > 0, 'routes were collected from the app')
  for (const [route, access] of registered) {
    t.equal(ROUTES[route]?.access, access, `${route} is in ROUTES with its declared access '${access}'`)
  }
  for (const route of Object.keys(ROUTES)) t.ok(registered.has(route), `${route} is a registered route`)
})

for (const [route, { access, url, body }] of Object.entries(ROUTES)) {
  const method = route.split(' ')[0] as InjectOptions['method']
  t.test(`${route} (${access})`, async (t) => {
    for (const [principal, authorization] of Object.entries(AUTHORIZATION)) {
      const response = await app.inject({
        method,
        url,
        headers: { authorization },
        ...(body !== undefined && { payload: body as InjectOptions['payload'] }),
      })
      if (authorization === undefined || principal === 'malformed token') {
        t.equal(response.statusCode, 401, `${principal}: 401`)
      } else if (ALLOWED[access].includes(principal as Principal)) {
        t.notOk(
          [401, 403].includes(response.statusCode),
          `${principal}: gets past authorization (${response.statusCode})`,
        )
      } else {
        t.equal(response.statusCode, 403, `${principal}: refused with 403`)
        if (method !== 'HEAD') {
          t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE, `${principal}: a problem`)
          t.match(response.json(), { type: 'urn:rostersync:problem:forbidden', status: 403 })
        }
      }
    }
  })
}
