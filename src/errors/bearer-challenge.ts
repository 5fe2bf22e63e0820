/** The realm of every WWW-Authenticate challenge of the API (RFC 6750). */
const AUTH_REALM = 'rostersync'

/**
 * The RFC 6750 challenge sent with every 401 and 403: `Bearer realm="rostersync"`, plus `error` and
 * `error_description` when a token was presented. The description keeps only the characters RFC 6750
 * allows in it (printable ASCII without `"` and `\`).
 */
export function bearerChallenge(bearerError: string | undefined, description: string): string {
  if (!bearerError) return `Bearer realm="${AUTH_REALM}"`
  const allowed = description.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')
  return `Bearer realm="${AUTH_REALM}", error="${bearerError}", error_description="${allowed}"`
}
