import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { SignJWT } from 'jose'
import type { Locator, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildConsole } from '../../scripts/build-console.ts'
import { build, injectAs, TEST_SERVICE_KEY } from '../helpers/build-app.ts'
import { calendarsUrl, putCalendars } from '../helpers/calendars.ts'
import { crewCallUrl, JOB, putCrewCall, putTechnicians, replaceRoster, roster } from '../helpers/crew.ts'
import { startFakeFlex } from '../helpers/fake-flex/fake-flex.ts'
import { waitFor } from '../helpers/wait.ts'
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts'
import { type Expected, launchChromium, PageWatch } from './browser.ts'

/**
 * The operator console in a real Chromium, against the app listening on a real port with a real fake
 * Flex, signed in with a service key or a user token. Every test fails on any console error, uncaught
 * exception, failed request or 4xx/5xx answer it did not expect and assert itself.
 * CONSOLE_SCREENSHOTS_DIR=docs/images keeps the screenshots where the README shows them.
 */
const SECRET = 'console-test-jwt-secret-0123456789abcdef'
const screenshots = resolve(
  process.env.CONSOLE_SCREENSHOTS_DIR ?? (await mkdtemp(join(tmpdir(), 'console-shots-'))),
)
await mkdir(screenshots, { recursive: true })

const consoleDir = await mkdtemp(join(tmpdir(), 'rostersync-console-'))
t.teardown(() => rm(consoleDir, { recursive: true, force: true }))
await buildConsole(consoleDir)

const flex = await startFakeFlex()
t.teardown(() => flex.close())
const { app } = await build(t, {
  env: {
    FLEX_BASE_URL: flex.url,
    FLEX_AUTH_TOKEN: flex.token,
    AUTH_JWT_SECRET: SECRET,
    // One unsuccessful run gives up, so a failure shows as `failed` at once.
    SYNC_MAX_ATTEMPTS: '1',
    FLEX_MAX_ATTEMPTS: '1',
    // A local receiver; one unsuccessful attempt makes a delivery `failed`.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_POLL_MS: '20',
    WEBHOOK_RETRY_SCHEDULE_MS: '0',
  },
  overrides: { consoleDir },
})
await app.listen({ port: 0, host: '127.0.0.1' })
const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
const browser = await launchChromium(t)

const userToken = (sub: string) =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(SECRET))

/**
 * Runs `steps` in a new tab on the console, signed in with `token`, then asserts that nothing went wrong
 * on the page (PageWatch) beyond the refusals the steps expected.
 */
async function inConsole(
  t: Test,
  token: string,
  steps: (page: Page) => Promise<void>,
  { width = 1280, expected }: { width?: number; expected?: Expected } = {},
): Promise<void> {
  const page = await browser.newPage()
  const watch = new PageWatch(page)
  if (expected) watch.expect(expected)
  try {
    await page.setViewportSize({ width, height: 900 })
    await page.goto(`${origin}/console/`)
    await page.getByLabel('API token').fill(token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await steps(page)
  } finally {
    t.same(watch.stop(), [], 'no console error, failed request or unexpected refusal')
    await page.close()
  }
}

/** Clicks Restore in a diff section, accepts the confirmation it asks for, and returns that question. */
async function restoreAccepting(page: Page, diff: Locator): Promise<string> {
  const asked = new Promise<string>((resolve) =>
    page.once('dialog', async (dialog) => {
      resolve(dialog.message())
      await dialog.accept()
    }),
  )
  await diff.getByRole('button', { name: 'Restore' }).click()
  return asked
}

// job-1's sound crew call: two technicians on its roster, its one run failed by Flex (a 500 on the list).
await putTechnicians(app, 3)
await putCrewCall(app)
await replaceRoster(app, roster(2))
flex.fail('list', { status: 500, times: 1000 })
const failedRun = await injectAs(app, 'service', { method: 'POST', url: `${crewCallUrl()}/sync` })
if (failedRun.json().run?.status !== 'failed') throw new Error(`expected a failed run: ${failedRun.body}`)

t.test('/console serves the built page, the bundles cached for good, nothing from elsewhere', async (t) => {
  const index = await fetch(`${origin}/console/`)
  t.equal(index.status, 200)
  t.match(index.headers.get('content-type'), /^text\/html/)
  t.equal(index.headers.get('cache-control'), 'no-cache')
  t.match(index.headers.get('content-security-policy'), /default-src 'self'/)
  const html = await index.text()
  const script = /src="\.\/(app-[0-9a-f]+\.js)"/.exec(html)?.[1]
  t.ok(script, 'a hashed bundle')
  const bundle = await fetch(`${origin}/console/${script}`)
  t.match(bundle.headers.get('content-type'), /^text\/javascript/)
  t.equal(bundle.headers.get('cache-control'), 'public, max-age=31536000, immutable')
  t.notMatch(html, /https?:\/\//, 'the page names no other origin')
  const bare = await fetch(`${origin}/console`, { redirect: 'manual' })
  t.equal(bare.status, 301)
  t.equal(bare.headers.get('location'), '/console/')
  t.equal((await fetch(`${origin}/console/nothing.js`)).status, 404)
})

t.test('signing in with a service key opens the overview; the token stays in this tab', async (t) => {
  await inConsole(t, TEST_SERVICE_KEY, async (page) => {
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
    t.equal(await page.evaluate('sessionStorage.getItem("rostersync.token")'), TEST_SERVICE_KEY)
    await page.getByText('All good: no duplicate rows.').waitFor()
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    t.equal(await page.evaluate('sessionStorage.getItem("rostersync.token")'), null)
  })
})

t.test(
  'a crew call failed by Flex shows as failed with its error on the overview and the list',
  async (t) => {
    await inConsole(t, TEST_SERVICE_KEY, async (page) => {
      const failedSection = page.getByRole('region', { name: 'Failed crew calls' })
      const row = failedSection.getByRole('row', { name: /job-1 \/ sound/ })
      await row.getByText('failed', { exact: true }).waitFor()
      t.match(await row.textContent(), /500/, 'with the error Flex caused')
      t.equal(await page.locator('[data-count="failed"]').textContent(), '1')
      await page.screenshot({ path: join(screenshots, 'console-overview.png') })

      await page.getByRole('link', { name: 'Crew calls' }).click()
      await page.getByLabel('State').selectOption('failed')
      await page.getByRole('button', { name: 'Filter' }).click()
      await page.waitForURL(/#\/crew-calls\?state=failed$/)
      const listed = page.getByRole('row', { name: /job-1/ })
      await listed.getByText('failed', { exact: true }).waitFor()
      t.match(await listed.textContent(), /500/)
    })
  },
)

t.test('with the fault gone, "Sync now" brings the failed crew call to in-sync on screen', async (t) => {
  await inConsole(t, TEST_SERVICE_KEY, async (page) => {
    // Three clicks from the overview: the failed crew call, then "Sync now".
    await page
      .getByRole('region', { name: 'Failed crew calls' })
      .getByRole('link', { name: /job-1 \/ sound/ })
      .click()
    await page.waitForURL(/#\/crew-calls\/job-1\/sound$/)
    const state = page.getByTestId('sync-state')
    await state.getByText('failed', { exact: true }).waitFor()
    await page
      .getByRole('row', { name: /manual failed/ })
      .first()
      .waitFor()
    await page.screenshot({ path: join(screenshots, 'console-failed-crew-call.png'), fullPage: true })

    flex.clearFaults()
    await page.getByRole('button', { name: 'Sync now' }).click()
    await state.getByText('in-sync', { exact: true }).waitFor()
    await page.getByRole('status').getByText('succeeded').waitFor()
    t.match(await page.getByRole('status').textContent(), /added 2/)
    t.equal(flex.lines('element-1').length, 2, 'Flex holds the roster')
    // The place is in the URL: a reload (a shared link) opens the same crew call.
    await page.reload()
    await page.getByTestId('sync-state').getByText('in-sync', { exact: true }).waitFor()
  })
})

t.test('a calendar restore from the history view makes a new version equal to the old one', async (t) => {
  const v1 = [
    { calendarId: 'team', summary: 'Team', timeZone: 'Europe/Paris' },
    { calendarId: 'on-call', summary: 'On call', backgroundColor: '#9fe1e7' },
  ]
  const v2 = [
    { calendarId: 'team', summary: 'Team (renamed)', timeZone: 'Europe/Berlin' },
    { calendarId: 'holidays', summary: 'Holidays' },
  ]
  t.equal((await putCalendars(app, 'alice', v1)).statusCode, 200)
  t.equal((await putCalendars(app, 'alice', v2)).statusCode, 200)
  await inConsole(t, TEST_SERVICE_KEY, async (page) => {
    await page.getByRole('link', { name: 'Calendars' }).click()
    await page.getByLabel('User id').fill('alice')
    await page.getByRole('button', { name: 'Open' }).click()
    await page.getByRole('link', { name: 'Diff v1 with now' }).click()
    await page.waitForURL(/#\/calendars\/alice\?diff=1$/)
    const diff = page.getByRole('region', { name: /Version 1 against now/ })
    await diff.getByRole('row', { name: /created holidays/ }).waitFor()
    t.match(
      await diff.getByRole('row', { name: /updated team/ }).textContent(),
      /summary: Team → Team \(renamed\)/,
    )
    t.match(
      await diff.getByRole('row', { name: /updated team/ }).textContent(),
      /timeZone: Europe\/Paris → Europe\/Berlin/,
    )
    await diff.getByRole('row', { name: /deleted on-call/ }).waitFor()
    await page.screenshot({ path: join(screenshots, 'console-calendar-diff.png'), fullPage: true })

    const confirmation = await restoreAccepting(page, diff)
    await page.getByRole('status').getByText('Restored version 1 as version 3.').waitFor()
    t.match(confirmation, /Restore version 1 of the calendars of alice/, 'the confirmation names the version')

    const fields = (set: Record<string, unknown>[]) =>
      set
        .map(({ createdAt: _c, updatedAt: _u, ...rest }) => rest)
        .sort((a, b) => String(a.calendarId).localeCompare(String(b.calendarId)))
    const at = async (query: string) =>
      (await injectAs(app, 'service', { method: 'GET', url: `${calendarsUrl('alice')}${query}` })).json()
    const now = await at('')
    t.equal(now.version, 3, 'a new version')
    t.same(fields(now.calendars), fields((await at('?version=1')).calendars), "its set equals version 1's")
    await page.getByRole('heading', { name: 'Calendars (version 3)' }).waitFor()
  })
})

t.test('a roster restore from the crew call page makes a new version equal to the old one', async (t) => {
  await putCrewCall(app, 'lights', 'element-lights')
  const v1 = [
    { technicianId: 'tech-0', role: 'LX-OP-R' },
    { technicianId: 'tech-1', role: null },
  ]
  const v2 = [
    { technicianId: 'tech-0', role: 'LX-OP-E' },
    { technicianId: 'tech-2', role: null },
  ]
  for (const assignments of [v1, v2]) {
    const written = await replaceRoster(app, assignments, 'lights')
    t.equal(written.statusCode, 200, written.body)
  }
  await inConsole(t, TEST_SERVICE_KEY, async (page) => {
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
    await page.goto(`${origin}/console/#/crew-calls/${JOB}/lights`)
    await page.getByRole('link', { name: 'Diff v1 with now' }).click()
    await page.waitForURL(new RegExp(`#/crew-calls/${JOB}/lights\\?diff=1$`))
    const diff = page.getByRole('region', { name: /Version 1 against now \(version 2\)/ })
    await diff.getByRole('row', { name: /created tech-2/ }).waitFor()
    t.match(await diff.getByRole('row', { name: /updated tech-0/ }).textContent(), /role: LX-OP-R → LX-OP-E/)
    await diff.getByRole('row', { name: /deleted tech-1/ }).waitFor()

    const confirmation = await restoreAccepting(page, diff)
    await page.getByRole('status').getByText('Restored version 1 as version 3.').waitFor()
    t.match(
      confirmation,
      /Restore version 1 of the roster of the lights crew call of job job-1/,
      'the confirmation names the version and the crew call',
    )

    const members = (assignments: { technicianId: string; role: string | null }[]) =>
      assignments
        .map(({ technicianId, role }) => ({ technicianId, role }))
        .sort((a, b) => a.technicianId.localeCompare(b.technicianId))
    const at = async (query: string) =>
      (
        await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl('lights')}/assignments${query}` })
      ).json()
    const now = await at('')
    t.equal(now.version, 3, 'a new version')
    t.same(members(now.assignments), members(v1), "its roster equals version 1's")
    await page.getByRole('row', { name: /^3 \(restored 1\)/ }).waitFor()
  })
})

t.test('a user token sees its own calendars and a 403 everywhere else', async (t) => {
  await putCalendars(app, 'bob', [{ calendarId: 'bob-cal', summary: 'Bob' }])
  // The refusals this test asserts on screen: the overview's three reads and another user's calendars.
  const refusedPaths = ['/v1/sync-status', '/v1/crew-calls', '/v1/admin/integrity', '/v1/users/alice/']
  const expected = (url: string) => refusedPaths.some((path) => new URL(url).pathname.startsWith(path))
  await inConsole(
    t,
    await userToken('bob'),
    async (page) => {
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
      const refusals = page.getByRole('alert')
      await refusals.first().waitFor()
      t.ok((await refusals.count()) >= 3, 'each part of the overview says it was refused')
      t.match(await refusals.first().textContent(), /^403 /)

      await page.goto(`${origin}/console/#/calendars/bob`)
      await page.getByRole('row', { name: /bob-cal/ }).waitFor()
      await page.goto(`${origin}/console/#/calendars/alice`)
      const refused = page.getByRole('alert')
      await refused.waitFor()
      t.match(await refused.textContent(), /^403 .*own calendars/)
    },
    { expected },
  )
})

t.test('at a phone width the overview fits the screen', async (t) => {
  await inConsole(
    t,
    TEST_SERVICE_KEY,
    async (page) => {
      await page.getByText('All good: no duplicate rows.').waitFor()
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
      t.ok(overflow <= 0, `no sideways scrolling (${overflow} px too wide)`)
      await page.screenshot({ path: join(screenshots, 'console-overview-phone.png'), fullPage: true })
    },
    { width: 390 },
  )
})

t.test(
  'the Webhooks page lists an endpoint\'s failed delivery with its error, and "Retry" sends it again',
  async (t) => {
    let answer = 500
    const receiver = await startWebhookReceiver(t, () => ({ status: answer }))
    const subscribed = await injectAs(app, 'service', {
      method: 'POST',
      url: '/v1/webhook-endpoints',
      payload: { url: receiver.url, events: ['calendar-set.changed'], description: 'billing' },
    })
    t.equal(subscribed.statusCode, 201)
    await putCalendars(app, 'hooked', [{ calendarId: 'hooked-cal', summary: 'Hooked' }])
    await waitFor('the delivery to fail', () => receiver.received.length === 1)
    await inConsole(t, TEST_SERVICE_KEY, async (page) => {
      await page.getByRole('link', { name: 'Webhooks' }).click()
      await page.waitForURL(/#\/webhooks$/)
      const endpoint = page.getByRole('region', { name: /billing/ })
      const row = endpoint.getByRole('row', { name: /calendar-set\.changed/ })
      await row.waitFor()
      t.match(await row.textContent(), /answered 500/, 'the failed delivery with its error')
      await page.screenshot({ path: join(screenshots, 'console-webhooks.png'), fullPage: true })

      answer = 204
      await row.getByRole('button', { name: /^Retry/ }).click()
      await page
        .getByRole('status')
        .getByText(/sent again/)
        .waitFor()
      await endpoint.getByText('No failed deliveries.').waitFor()
    })
    await waitFor('the retried delivery to arrive', () => receiver.accepted().length === 1)
    const [first, retried] = receiver.received
    t.equal(retried?.id, first?.id, 'the retry carries the same webhook-id')
  },
)
