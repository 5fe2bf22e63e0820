import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, type ConsoleMessage, chromium, type Page } from 'playwright-core'

/** Debian's Chromium (package `chromium`); playwright-core never downloads a browser here. */
export const CHROMIUM = '/usr/bin/chromium'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * Chromium on a fresh profile, closed (and its profile deleted) at teardown. Without Chromium the test
 * fails, saying how to install it: the console's tests never pass by being skipped.
 */
export async function launchChromium(t: Teardown): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is missing (${CHROMIUM}): the console's browser tests need Debian's package. As root: ` +
        'apt-get update && apt-get install -y chromium (.ci/run does this)',
    )
  const profile = await mkdtemp(join(tmpdir(), 'rostersync-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
  })
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  return context
}

/** A 4xx/5xx answer or a console message the test expects, e.g. the 403 a user token must get. */
export type Expected = (url: string) => boolean

/**
 * Everything that went wrong on a page: console errors and warnings, uncaught exceptions, requests that
 * failed, and answers of 400 or more. `expected` lets through the refusals a test asserts itself.
 */
export class PageWatch {
  readonly problems: string[] = []
  private readonly expected: Expected[] = []

  constructor(readonly page: Page) {
    page.on('console', this.onConsole)
    page.on('pageerror', this.onPageError)
    page.on('requestfailed', this.onRequestFailed)
    page.on('response', this.onResponse)
  }

  expect(expected: Expected): void {
    this.expected.push(expected)
  }

  /** Stops listening (before the page closes, whose aborted requests are no fault of the console). */
  stop(): string[] {
    this.page.off('console', this.onConsole)
    this.page.off('pageerror', this.onPageError)
    this.page.off('requestfailed', this.onRequestFailed)
    this.page.off('response', this.onResponse)
    return this.problems
  }

  private isExpected = (url: string) => this.expected.some((expected) => expected(url))

  private readonly onConsole = (message: ConsoleMessage) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return
    // Chromium logs every 4xx answer as a console error; the answer itself is judged in onResponse.
    if (
      /^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text()) &&
      this.isExpected(message.location().url)
    )
      return
    this.problems.push(`console ${message.type()}: ${message.text()} (${message.location().url})`)
  }

  private readonly onPageError = (error: Error) => this.problems.push(`uncaught: ${error.message}`)

  private readonly onRequestFailed = (request: { url(): string; failure(): { errorText: string } | null }) =>
    this.problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`)

  private readonly onResponse = (response: { url(): string; status(): number }) => {
    if (response.status() >= 400 && !this.isExpected(response.url()))
      this.problems.push(`answer ${response.status()}: ${response.url()}`)
  }
}
