import { SignJWT } from 'jose'
import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import {
  crewWorld,
  ELEMENT,
  replaceRoster,
  resourceId,
  roster,
  sync,
  technicianId,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'

const SECRET = 'integrity-test-secret-of-32-bytes!!'
const asUser = async (role: string) => ({
  authorization: `Bearer ${await new SignJWT({ sub: 'someone', role })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET))}`,
})

t.test('a healthy deployment reports no drift', async (t) => {
  const { app } = await crewWorld(t, 3)
  await replaceRoster(app, roster(3))
  await sync(app)
  const report = (
    await injectAs(app, 'service', { method: 'GET', url: '/v1/admin/integrity?checkFlex=true' })
  ).json()
  t.equal(report.duplicates.length, 6, 'every natural key is checked')
  t.same(
    report.duplicates.filter((d: { groups: number }) => d.groups !== 0),
    [],
  )
  t.same(report.missingFlexLines, [])
  t.same(report.crewCallsWhoseLastSyncFailed, [])
  t.match(report.syncsLast24h, { runs: 1, failed: 0, failureRate: 0, meanDurationMs: Number })
  const withoutFlex = (await injectAs(app, 'service', { method: 'GET', url: '/v1/admin/integrity' })).json()
  t.equal(withoutFlex.missingFlexLines, null, 'Flex is read only when asked')
})

t.test('planted drift is reported: a line deleted behind our back, a failed sync, a duplicate', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 3, { env: { FLEX_MAX_ATTEMPTS: '1' } })
  await replaceRoster(app, roster(3))
  await sync(app)
  const victim = flex.lines(ELEMENT).find((line) => line.resourceId === resourceId(1))
  flex.deleteLineByHand(victim?.id as string)
  flex.fail('list', { status: 500 })
  await sync(app)
  await withClient(databaseUrl, (c) =>
    c.query(`DROP INDEX technicians_flex_resource_id_key;
             INSERT INTO technicians (id, name, flex_resource_id) VALUES ('twin', 'Twin', '${resourceId(0)}')`),
  )
  const report = (
    await injectAs(app, 'service', { method: 'GET', url: '/v1/admin/integrity?checkFlex=true' })
  ).json()
  t.same(report.missingFlexLines, [
    { jobId: 'job-1', department: 'sound', technicianId: technicianId(1), flexLineItemId: victim?.id },
  ])
  t.match(report.crewCallsWhoseLastSyncFailed, [{ jobId: 'job-1', department: 'sound', runId: String }])
  t.match(report.syncsLast24h, { runs: 2, failed: 1, failureRate: 0.5 })
  t.same(
    report.duplicates.filter((d: { groups: number }) => d.groups > 0),
    [{ key: 'technicians (flex_resource_id)', groups: 1 }],
  )
})

t.test('checkFlex answers 502 when Flex cannot be read', async (t) => {
  const { app, flex } = await crewWorld(t, 1, { env: { FLEX_MAX_ATTEMPTS: '1' } })
  await replaceRoster(app, roster(1))
  await sync(app)
  flex.fail('list', { status: 503 })
  const response = await injectAs(app, 'service', {
    method: 'GET',
    url: '/v1/admin/integrity?checkFlex=true',
  })
  t.equal(response.statusCode, 502)
  t.match(response.json(), { type: 'urn:rostersync:problem:upstream' })
})

t.test('only a service key or an admin may look', async (t) => {
  const { app } = await crewWorld(t, 0, { env: { AUTH_JWT_SECRET: SECRET } })
  const url = '/v1/admin/integrity'
  t.equal(
    (await injectAs(app, 'headers', { method: 'GET', url, headers: await asUser('admin') })).statusCode,
    200,
  )
  t.equal(
    (await injectAs(app, 'headers', { method: 'GET', url, headers: await asUser('management') })).statusCode,
    403,
  )
  t.equal(
    (await injectAs(app, 'headers', { method: 'GET', url, headers: { authorization: undefined } }))
      .statusCode,
    401,
  )
})
