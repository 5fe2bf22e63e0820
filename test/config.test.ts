import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { ConfigError, hasCredentials, loadConfig } from '../src/config.ts'

t.test('defaults apply when nothing is set', async (t) => {
  const config = loadConfig({})
  t.equal(config.PORT, 3000)
  t.equal(config.HOST, '127.0.0.1')
  t.equal(config.DATABASE_URL, undefined, 'no DATABASE_URL: the embedded PostgreSQL is used')
})

t.test('an empty variable counts as unset', async (t) => {
  const config = loadConfig({ PORT: '', HOST: '', DATABASE_URL: '' })
  t.equal(config.PORT, 3000)
  t.equal(config.HOST, '127.0.0.1')
  t.equal(config.DATABASE_URL, undefined)
})

t.test('valid values are parsed', async (t) => {
  const config = loadConfig({ PORT: '8080', HOST: '0.0.0.0', DATABASE_URL: 'postgresql://u:p@db:5432/app' })
  t.equal(config.PORT, 8080)
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.DATABASE_URL, 'postgresql://u:p@db:5432/app')
})

const invalid: [variable: string, value: string][] = [
  ['PORT', 'abc'],
  ['PORT', '70000'],
  ['DATABASE_URL', 'mysql://x'],
]
for (const [variable, value] of invalid) {
  t.test(`${variable}=${value} is refused with a ConfigError naming ${variable}`, async (t) => {
    const error = t.throws(() => loadConfig({ [variable]: value }))
    t.type(error, ConfigError)
    t.match(error, { message: new RegExp(`\\b${variable}\\b`) })
  })
}

t.test('auth: no credential by default; the generated key lives under ./.data', async (t) => {
  const config = loadConfig({})
  t.same(config.AUTH_SERVICE_KEYS, [])
  t.equal(config.AUTH_SERVICE_KEY_FILE, './.data/service-key')
  t.notOk(hasCredentials(config))
  t.ok(hasCredentials(loadConfig({ AUTH_JWT_SECRET: 'x'.repeat(32) })), 'a JWT secret is a credential')
})

t.test('AUTH_SERVICE_KEYS: name:key pairs, separated by commas', async (t) => {
  const config = loadConfig({
    AUTH_SERVICE_KEYS: 'scheduler:abcdefghijklmnop, importer:Zm9vYmFyYmF6cXV4MTIz==',
  })
  t.same(config.AUTH_SERVICE_KEYS, [
    { name: 'scheduler', key: 'abcdefghijklmnop' },
    { name: 'importer', key: 'Zm9vYmFyYmF6cXV4MTIz==' },
  ])
  t.ok(hasCredentials(config))
})

const publicKeyPem = (type: 'rsa' | 'ec', options: object) =>
  generateKeyPairSync(type as 'rsa', options as { modulusLength: number }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string

t.test('AUTH_JWT_PUBLIC_KEY: a PEM RSA or P-256 key, newlines real or escaped', async (t) => {
  const rsa = publicKeyPem('rsa', { modulusLength: 2048 })
  const ec = publicKeyPem('ec', { namedCurve: 'P-256' })
  t.match(loadConfig({ AUTH_JWT_PUBLIC_KEY: rsa }).AUTH_JWT_PUBLIC_KEY, { algorithm: 'RS256' })
  t.match(loadConfig({ AUTH_JWT_PUBLIC_KEY: ec }).AUTH_JWT_PUBLIC_KEY, { algorithm: 'ES256' })
  const escaped = loadConfig({ AUTH_JWT_PUBLIC_KEY: ec.trim().replaceAll('\n', '\\n') })
  t.equal(escaped.AUTH_JWT_PUBLIC_KEY?.pem, ec.trim(), '\\n-escaped newlines become newlines')
})

const KEY = 'abcdefghijklmnop'
const authInvalid: [description: string, env: Record<string, string>, variable: string][] = [
  ['a pair without a colon', { AUTH_SERVICE_KEYS: 'abcdefghijklmnopqrst' }, 'AUTH_SERVICE_KEYS'],
  ['an empty name', { AUTH_SERVICE_KEYS: `:${KEY}` }, 'AUTH_SERVICE_KEYS'],
  ['an empty key', { AUTH_SERVICE_KEYS: 'ci:' }, 'AUTH_SERVICE_KEYS'],
  ['an empty entry', { AUTH_SERVICE_KEYS: `ci:${KEY},` }, 'AUTH_SERVICE_KEYS'],
  ['a key of 15 characters', { AUTH_SERVICE_KEYS: `ci:${KEY.slice(1)}` }, 'AUTH_SERVICE_KEYS'],
  ['a key with a space', { AUTH_SERVICE_KEYS: 'ci:abcdefgh ijklmnop' }, 'AUTH_SERVICE_KEYS'],
  ['a name used twice', { AUTH_SERVICE_KEYS: `ci:${KEY},ci:${KEY}x` }, 'AUTH_SERVICE_KEYS'],
  ['a key used twice', { AUTH_SERVICE_KEYS: `ci:${KEY},cd:${KEY}` }, 'AUTH_SERVICE_KEYS'],
  ['a name with a space', { AUTH_SERVICE_KEYS: `c i:${KEY}` }, 'AUTH_SERVICE_KEYS'],
  ['a JWT secret of 31 bytes', { AUTH_JWT_SECRET: 'x'.repeat(31) }, 'AUTH_JWT_SECRET'],
  ['a public key that is not PEM', { AUTH_JWT_PUBLIC_KEY: 'not a key' }, 'AUTH_JWT_PUBLIC_KEY'],
  [
    'a PEM public key that does not parse',
    { AUTH_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' },
    'AUTH_JWT_PUBLIC_KEY',
  ],
  [
    'a private key',
    {
      AUTH_JWT_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    },
    'AUTH_JWT_PUBLIC_KEY',
  ],
  [
    'an RSA key of 1024 bits',
    { AUTH_JWT_PUBLIC_KEY: publicKeyPem('rsa', { modulusLength: 1024 }) },
    'AUTH_JWT_PUBLIC_KEY',
  ],
  [
    'a P-384 key',
    { AUTH_JWT_PUBLIC_KEY: publicKeyPem('ec', { namedCurve: 'P-384' }) },
    'AUTH_JWT_PUBLIC_KEY',
  ],
  ['an Ed25519 key', { AUTH_JWT_PUBLIC_KEY: publicKeyPem('ed25519' as 'ec', {}) }, 'AUTH_JWT_PUBLIC_KEY'],
  ['an issuer without a JWT key', { AUTH_JWT_ISSUER: 'https://issuer.test' }, 'AUTH_JWT_ISSUER'],
  ['an audience without a JWT key', { AUTH_JWT_AUDIENCE: 'rostersync' }, 'AUTH_JWT_AUDIENCE'],
]
for (const [description, env, variable] of authInvalid) {
  t.test(`${description} is refused with a ConfigError naming ${variable}`, async (t) => {
    const error = t.throws(() => loadConfig(env))
    t.type(error, ConfigError)
    t.match(error, { message: new RegExp(`\\b${variable}\\b`) })
    if (env.AUTH_SERVICE_KEYS) t.notMatch(error, { message: /abcdefgh/ }, 'without echoing a key')
  })
}

t.test('CREW_DEPARTMENTS: sound,lights,video by default; a list of names, validated at start', async (t) => {
  t.same(loadConfig({}).CREW_DEPARTMENTS, ['sound', 'lights', 'video'])
  t.same(loadConfig({ CREW_DEPARTMENTS: 'sound, rigging ,power-2' }).CREW_DEPARTMENTS, [
    'sound',
    'rigging',
    'power-2',
  ])
  for (const [value, message] of [
    ['sound,Rigging', /CREW_DEPARTMENTS: entry 2 \("Rigging"\)/],
    ['sound,,video', /CREW_DEPARTMENTS: entry 2/],
    ['sound,sound', /CREW_DEPARTMENTS: the department sound is listed twice/],
  ] as const) {
    t.throws(() => loadConfig({ CREW_DEPARTMENTS: value }), { message }, value)
  }
  t.throws(() => loadConfig({ CREW_DEPARTMENTS: 'sound', FLEX_BUSINESS_ROLES: '{"video":{"R":"x"}}' }), {
    message: /FLEX_BUSINESS_ROLES: names the department video, which is not in CREW_DEPARTMENTS \(sound\)/,
  })
  t.same(
    loadConfig({ CREW_DEPARTMENTS: 'rigging', FLEX_BUSINESS_ROLES: '{"rigging":{"T":"x"}}' })
      .FLEX_BUSINESS_ROLES,
    { rigging: { T: 'x' } },
  )
})
