import { ForbiddenError } from '../../errors/domain-errors.ts'
import type { Principal } from './credentials.ts'

/**
 * What a /v1 route lets through, declared on the route as `config: { access }`:
 * - 'calendar-owner': a service key, or a user token whose `sub` is the route's `userId`;
 * - 'crew': a service key, or a user token whose `role` is `admin` or `management`;
 * - 'admin': a service key, or a user token whose `role` is `admin`;
 * - 'service': a service key only. A route that declares nothing gets this.
 */
export type Access = 'calendar-owner' | 'crew' | 'admin' | 'service'

const CREW_ROLES: ReadonlySet<string> = new Set(['admin', 'management'])

/** The one place that decides whether an authenticated principal may call a route; throws ForbiddenError. */
export function authorize(access: Access, principal: Principal, params: unknown): void {
  if (principal.kind === 'service') return
  switch (access) {
    case 'calendar-owner':
      if ((params as { userId?: unknown } | undefined)?.userId === principal.sub) return
      throw new ForbiddenError(
        'a user token may read and replace only its own calendars: /v1/users/{sub}/calendars',
      )
    case 'crew':
      if (principal.role !== null && CREW_ROLES.has(principal.role)) return
      throw new ForbiddenError('needs a service key or a user token with role admin or management')
    case 'admin':
      if (principal.role === 'admin') return
      throw new ForbiddenError('needs a service key or a user token with role admin')
    case 'service':
      throw new ForbiddenError('needs a service key')
  }
}
