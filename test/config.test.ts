import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

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
