import { createRostersyncClient, type Problem, type RostersyncClient } from '../../sdk/src/index.ts'

const TOKEN_KEY = 'rostersync.token'

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY)
export const storeToken = (token: string) => sessionStorage.setItem(TOKEN_KEY, token)
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY)

/** The SDK client for the signed-in token, on this server's own origin. */
export function client(): RostersyncClient {
  return createRostersyncClient({ baseUrl: location.origin, token: storedToken() ?? '' })
}

/** An answer: the data, or what the API refused and why (its Problem). */
export type Answer<T> = { ok: true; data: T } | { ok: false; status: number; problem: Problem | null }

/** Thrown on 401: the token is not (or no longer) accepted; the console asks for another. */
export class SignedOut extends Error {}

/** Reads an SDK call's outcome: a 401 signs out, other refusals come back with their Problem. */
export async function answer<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<Answer<T>> {
  const { data, error, response } = await call
  if (response.status === 401) throw new SignedOut(problemText(error as Problem | undefined, 401))
  if (response.ok) return { ok: true, data: data as T }
  return { ok: false, status: response.status, problem: (error as Problem | undefined) ?? null }
}

export function problemText(problem: Problem | null | undefined, status: number): string {
  if (!problem) return `${status}`
  return `${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}`
}
