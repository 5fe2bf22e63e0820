import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { BEARER_TOKEN, MIN_SERVICE_KEY_LENGTH } from '../config.ts'

export interface GeneratedServiceKey {
  key: string
  /** Absolute path of the file that holds it. */
  file: string
  /** True when this start created it, false when an earlier start had. */
  created: boolean
}

/**
 * The service key of a server started without any credential: read from `file` when an earlier start
 * made it, created otherwise (32 random bytes, base64url, file mode 0600). Creation is atomic: the
 * key is written to a private temporary file, then hard-linked into place, which fails if another
 * process got there first (its key is then read and used). The development JWT secret is made the
 * same way (`what` names it in errors). Only src/server.ts and npm run token call this; buildApp never
 * writes files.
 */
export async function readOrCreateServiceKey(
  file: string,
  what = 'service key',
): Promise<GeneratedServiceKey> {
  const path = resolve(file)
  const existing = await readKey(path, what)
  if (existing) return { key: existing, file: path, created: false }

  await mkdir(dirname(path), { recursive: true })
  const key = randomBytes(32).toString('base64url')
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temporary, `${key}\n`, { mode: 0o600, flag: 'wx' })
  try {
    await link(temporary, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const theirs = await readKey(path, what)
    if (!theirs) throw error
    return { key: theirs, file: path, created: false }
  } finally {
    await rm(temporary, { force: true })
  }
  return { key, file: path, created: true }
}

async function readKey(path: string, what: string): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  const key = text.trim()
  if (key.length < MIN_SERVICE_KEY_LENGTH || !BEARER_TOKEN.test(key))
    throw new Error(
      `${path} does not hold a usable ${what} (at least ${MIN_SERVICE_KEY_LENGTH} characters of ` +
        'letters, digits, - . _ ~ + /): delete it to have a new one generated',
    )
  return key
}
