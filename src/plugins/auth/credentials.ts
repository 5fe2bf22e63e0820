import { createPublicKey, hash, type KeyObject, timingSafeEqual } from 'node:crypto'
import { errors, type JWSHeaderParameters, type JWTPayload, jwtVerify } from 'jose'
import { BEARER_TOKEN, type Config, type JwtPublicKeyAlgorithm, type ServiceKey } from '../../config.ts'
import { UnauthorizedError } from '../../errors/domain-errors.ts'
import { idSchema } from '../../schemas/common.ts'

/** Who is calling: an internal service (by the name of its key) or a user (a JWT's `sub` and `role`). */
export type Principal = { kind: 'service'; name: string } | { kind: 'user'; sub: string; role: string | null }

/** A principal as one token, e.g. `service:billing` or `user:alice` (the sub URI-encoded): for scopes and history. */
export function principalName(principal: Principal): string {
  return principal.kind === 'service'
    ? `service:${principal.name}`
    : `user:${encodeURIComponent(principal.sub)}`
}

/** Seconds of clock skew allowed when checking a token's `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 5

interface CredentialSettings {
  serviceKeys: readonly ServiceKey[]
  /** HS256 secret. */
  jwtSecret?: string
  /** PEM public key and the one algorithm it verifies. */
  jwtPublicKey?: { pem: string; algorithm: JwtPublicKeyAlgorithm }
  issuer?: string
  audience?: string
}

export function credentialSettings(config: Config): CredentialSettings {
  return {
    serviceKeys: config.AUTH_SERVICE_KEYS,
    jwtSecret: config.AUTH_JWT_SECRET,
    jwtPublicKey: config.AUTH_JWT_PUBLIC_KEY,
    issuer: config.AUTH_JWT_ISSUER,
    audience: config.AUTH_JWT_AUDIENCE,
  }
}

const BEARER = /^Bearer(?: +(.*))?$/i
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/

const subSchema = idSchema

/** One-shot (crypto.hash): about half the cost of a Hash object, paid by every request with a service key. */
const sha256 = (text: string) => hash('sha256', text, 'buffer')

/**
 * Turns an Authorization header into a Principal, or throws UnauthorizedError. Knows nothing of HTTP
 * beyond the header's text, and nothing of routes: what a principal may do is decided in access.ts.
 *
 * - Service keys are compared in constant time: the sha256 of the presented token against the sha256 of
 *   every configured key, all of them every time, so neither the length nor the position of a key leaks.
 * - JWTs are verified with jose, accepting only HS256 (with AUTH_JWT_SECRET) and the one algorithm of
 *   AUTH_JWT_PUBLIC_KEY (RS256 or ES256). `alg: none` and algorithm confusion (an HS256 token "signed"
 *   with the public key) are refused because their algorithm is not on that list. `exp` and `sub` are
 *   required; `exp` and `nbf` are checked with CLOCK_TOLERANCE_SECONDS of leeway; `iss` and `aud` when
 *   configured.
 */
export class Credentials {
  readonly #serviceKeys: { name: string; digest: Buffer }[]
  readonly #secret?: Uint8Array
  readonly #publicKey?: KeyObject
  readonly #algorithms: string[]
  readonly #issuer?: string
  readonly #audience?: string

  constructor(settings: CredentialSettings) {
    this.#serviceKeys = settings.serviceKeys.map(({ name, key }) => ({ name, digest: sha256(key) }))
    this.#algorithms = []
    if (settings.jwtSecret) {
      this.#secret = new TextEncoder().encode(settings.jwtSecret)
      this.#algorithms.push('HS256')
    }
    if (settings.jwtPublicKey) {
      this.#publicKey = createPublicKey(settings.jwtPublicKey.pem)
      this.#algorithms.push(settings.jwtPublicKey.algorithm)
    }
    this.#issuer = settings.issuer
    this.#audience = settings.audience
  }

  /** Whether any credential can authenticate at all. */
  get configured(): boolean {
    return this.#serviceKeys.length > 0 || this.#algorithms.length > 0
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearerToken(authorization)
    const service = this.#serviceKey(token)
    if (service) return { kind: 'service', name: service }
    if (!JWT_SHAPE.test(token)) throw new UnauthorizedError('unknown service key', 'invalid_token')
    if (this.#algorithms.length === 0)
      throw new UnauthorizedError('this server accepts no user tokens (JWTs)', 'invalid_token')
    return this.#verifyJwt(token)
  }

  #serviceKey(token: string): string | undefined {
    const digest = sha256(token)
    let match: string | undefined
    for (const { name, digest: expected } of this.#serviceKeys) {
      if (timingSafeEqual(digest, expected)) match ??= name
    }
    return match
  }

  async #verifyJwt(token: string): Promise<Principal> {
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, this.#keyFor, {
        algorithms: this.#algorithms,
        issuer: this.#issuer,
        audience: this.#audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      }))
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new UnauthorizedError(describe(error), 'invalid_token')
      throw error
    }
    if (typeof payload.sub !== 'string' || payload.sub === '')
      throw new UnauthorizedError('the token has no sub claim naming the user', 'invalid_token')
    // The sub is recorded as the author of writes: like every id the API accepts, it must be well-formed
    // text without control characters (a lone surrogate cannot even be URI-encoded into the actor name).
    if (!subSchema.safeParse(payload.sub).success)
      throw new UnauthorizedError(
        "the token's sub claim is not an id: empty, over 1024 characters, or not well-formed text (a lone UTF-16 surrogate or a control character)",
        'invalid_token',
      )
    return { kind: 'user', sub: payload.sub, role: typeof payload.role === 'string' ? payload.role : null }
  }

  /** Only reached for an algorithm on #algorithms, so the key exists and matches it. */
  #keyFor = (header: JWSHeaderParameters): Uint8Array | KeyObject => {
    const key = header.alg === 'HS256' ? this.#secret : this.#publicKey
    if (!key) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed')
    return key
  }
}

/** The token of `Authorization: Bearer <token>`; a missing or other scheme is "no credentials". */
function bearerToken(authorization: string | undefined): string {
  const match = BEARER.exec(authorization?.trim() ?? '')
  const token = match?.[1]?.trim()
  if (!token)
    throw new UnauthorizedError(
      'send Authorization: Bearer <token>, with a service key or a user token (JWT)',
    )
  if (!BEARER_TOKEN.test(token)) throw new UnauthorizedError('the bearer token is malformed', 'invalid_token')
  return token
}

/** What the client is told about a token jose refused: which check failed, never the token. */
function describe(error: InstanceType<typeof errors.JOSEError>): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the token is not valid yet (nbf)'
    if (error.claim === 'iss') return 'the token was issued by an issuer this server does not accept (iss)'
    if (error.claim === 'aud') return 'the token is meant for another audience (aud)'
    if (error.reason === 'missing') return `the token has no ${error.claim} claim`
    return `the token's ${error.claim} claim is invalid`
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "the token's algorithm (alg) is not accepted"
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the token's signature does not verify"
  return 'the token is malformed'
}
