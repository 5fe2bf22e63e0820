import { join } from 'node:path'
import t from 'tap'
import { build, injectAs } from '../helpers/build-app.ts'

t.test('without a build, /console says how to make one (and /v1 is unaffected)', async (t) => {
  const missing = join(import.meta.dirname, 'no-console-build-here')
  const { app } = await build(t, { overrides: { consoleDir: missing } })
  const response = await injectAs(app, 'service', { method: 'GET', url: '/console/' })
  t.equal(response.statusCode, 503)
  t.match(response.headers['content-type'], /^text\/plain/)
  t.match(response.body, /The console is not built: run `npm run build`/)
  t.match(response.body, missing, 'naming where it looked')
  t.equal((await injectAs(app, 'service', { method: 'GET', url: '/v1/sync-status' })).statusCode, 200)
})

t.test('the console has no route in the OpenAPI document', async (t) => {
  const { app } = await build(t)
  const document = (await injectAs(app, 'service', { method: 'GET', url: '/openapi.json' })).json<{
    paths: object
  }>()
  t.notOk(Object.keys(document.paths).some((path) => path.startsWith('/console')))
})
