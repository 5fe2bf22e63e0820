import { SignJWT } from 'jose'
import { type Config, usesDevelopmentJwtSecret } from '../config.ts'
import { readOrCreateServiceKey } from './service-key-file.ts'

export interface DevelopmentTokenRequest {
  sub: string
  role?: string
  /** Lifetime in seconds. */
  ttlSeconds: number
}

/** Why no token can be minted, as a sentence that says what to do instead. */
export class TokenRefusedError extends Error {
  override name = 'TokenRefusedError'
}

/**
 * A user token (HS256 JWT) the service started with the same configuration accepts: signed with
 * AUTH_JWT_SECRET, or, when the service runs with no credential configured, with the development
 * secret in AUTH_JWT_SECRET_FILE (made here when the service has not made it yet). With AUTH_JWT_ISSUER
 * or AUTH_JWT_AUDIENCE set, the token carries them. For development: refused when NODE_ENV=production.
 */
export async function mintDevelopmentToken(
  config: Config,
  request: DevelopmentTokenRequest,
): Promise<string> {
  if (config.NODE_ENV === 'production')
    throw new TokenRefusedError(
      'npm run token mints development tokens and is off when NODE_ENV=production: ' +
        'production user tokens come from your identity provider',
    )
  const secret = config.AUTH_JWT_SECRET ?? (await developmentSecret(config))
  let token = new SignJWT({ ...(request.role !== undefined && { role: request.role }) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(request.sub)
    .setIssuedAt()
    .setExpirationTime(`${request.ttlSeconds}s`)
  if (config.AUTH_JWT_ISSUER) token = token.setIssuer(config.AUTH_JWT_ISSUER)
  if (config.AUTH_JWT_AUDIENCE) token = token.setAudience(config.AUTH_JWT_AUDIENCE)
  return token.sign(new TextEncoder().encode(secret))
}

async function developmentSecret(config: Config): Promise<string> {
  if (usesDevelopmentJwtSecret(config))
    return (await readOrCreateServiceKey(config.AUTH_JWT_SECRET_FILE, 'JWT secret')).key
  if (config.AUTH_JWT_PUBLIC_KEY)
    throw new TokenRefusedError(
      'the service verifies user tokens with AUTH_JWT_PUBLIC_KEY: mint them with the matching private key ' +
        '(your identity provider); this command signs only with AUTH_JWT_SECRET',
    )
  throw new TokenRefusedError(
    'the service accepts no user tokens: only AUTH_SERVICE_KEYS is configured. Set AUTH_JWT_SECRET ' +
      '(32 bytes or more) for both the service and this command, or configure no credential at all to ' +
      'use the development secret the service keeps in AUTH_JWT_SECRET_FILE',
  )
}
