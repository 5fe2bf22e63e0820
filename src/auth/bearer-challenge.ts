/** The realm of every WWW-Authenticate challenge of the API (RFC 6750). */
export const AUTH_REALM = 'rostersync'

/** The longest error_description of a challenge: longer ones are cut. */
const MAX_DESCRIPTION_LENGTH = 512
/** The longest challenge: the realm, the error code and the description, with their syntax. */
export const MAX_CHALLENGE_LENGTH = 128 + MAX_DESCRIPTION_LENGTH

/**
 * The RFC 6750 challenge sent with every 401 and 403: `Bearer realm="rostersync"`, plus `error` and
 * `error_description` when a token was presented. The description keeps only the characters RFC 6750
 * allows in it (printable ASCII without `"` and `\`), at most MAX_DESCRIPTION_LENGTH of them.
 */
export function bearerChallenge(bearerError: string | undefined, description: string): string {
  if (!bearerError) return `Bearer realm="${AUTH_REALM}"`
  const allowed = description.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '').slice(0, MAX_DESCRIPTION_LENGTH)
  return `Bearer realm="${AUTH_REALM}", error="${bearerError}", error_description="${allowed}"`
}
