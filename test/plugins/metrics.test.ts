import t from 'tap'
import { build, injectAs, TEST_AUTHORIZATION } from '../helpers/build-app.ts'
import { calendarSet, putCalendars } from '../helpers/calendars.ts'
import { crewWorld, replaceRoster, roster, sync } from '../helpers/crew.ts'
import { metricSample } from '../helpers/metrics.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

const scrape = async (
  app: Awaited<ReturnType<typeof build>>['app'],
  headers: Record<string, string> = {},
) => {
  // As the service, unless the test names its own Authorization header (METRICS_TOKEN's checks).
  const principal = 'authorization' in headers ? 'headers' : 'service'
  const response = await injectAs(app, principal, { method: 'GET', url: '/metrics', headers })
  return {
    status: response.statusCode,
    type: response.headers['content-type'],
    body: response.body,
    response,
  }
}

t.test('requests are counted by route template and status', async (t) => {
  const { app } = await build(t)
  await putCalendars(app, 'metered', calendarSet('m', 2))
  await putCalendars(app, 'metered', [{ calendarId: '' }])
  const { status, type, body } = await scrape(app)
  t.equal(status, 200)
  t.match(type, /^text\/plain; version=0\.0\.4/)
  const route = 'route="/v1/users/:userId/calendars"'
  t.equal(metricSample(body, `rostersync_http_requests_total{method="PUT",${route},status="200"}`), 1)
  t.equal(metricSample(body, `rostersync_http_requests_total{method="PUT",${route},status="400"}`), 1)
  t.equal(
    metricSample(body, `rostersync_http_request_duration_seconds_count{method="PUT",${route},status="200"}`),
    1,
  )
  t.match(body, /rostersync_db_pool_connections\{state="idle"\} \d+/)
  t.match(body, /rostersync_db_pool_connections\{state="waiting"\} 0/)
})

t.test('sync runs, their duration and Flex calls are counted', async (t) => {
  const { app } = await crewWorld(t, 3)
  await replaceRoster(app, roster(3))
  await sync(app)
  await sync(app)
  const { body } = await scrape(app)
  t.equal(metricSample(body, 'rostersync_sync_runs_total{status="succeeded",trigger="manual"}'), 2)
  t.equal(metricSample(body, 'rostersync_sync_duration_seconds_count'), 2)
  t.equal(metricSample(body, 'rostersync_flex_calls_total{endpoint="list",outcome="ok"}'), 2)
  t.equal(metricSample(body, 'rostersync_flex_calls_total{endpoint="add",outcome="ok"}'), 3)
})

t.test('without METRICS_TOKEN, /metrics is off for everyone, saying how to turn it on', async (t) => {
  const { app } = await build(t, { env: { METRICS_TOKEN: '' } })
  for (const authorization of ['', 'Bearer anything-0123456789', TEST_AUTHORIZATION]) {
    const refused = await scrape(app, { authorization })
    t.equal(refused.status, 403, `authorization ${JSON.stringify(authorization)}`)
    t.match(refused.type, PROBLEM_CONTENT_TYPE)
    t.match(refused.response.json(), { detail: /set METRICS_TOKEN/ })
    t.notMatch(refused.body, 'rostersync_', 'no count leaks')
  }
})

t.test('with METRICS_TOKEN set, scraping needs it', async (t) => {
  const token = 'metrics-token-0123456789'
  const { app } = await build(t, { env: { METRICS_TOKEN: token } })
  const missing = await scrape(app, { authorization: '' })
  t.equal(missing.status, 401)
  t.match(missing.type, PROBLEM_CONTENT_TYPE)
  t.match(missing.response.headers['www-authenticate'], /^Bearer/)
  t.equal((await scrape(app, { authorization: 'Bearer wrong-token-0123456789' })).status, 401)
  t.equal((await scrape(app, { authorization: `Bearer ${token}` })).status, 200)
})
