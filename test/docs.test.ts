/**
 * The documentation stays true to the repository: every relative link in README.md, docs/*.md and
 * sdk/README.md reaches a file that exists (and, for a #anchor into a markdown file, one of its
 * headings), the README stays short, and docs/configuration.md is exactly what the config schema
 * renders (scripts/config-doc.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CONFIGURATION_PAGE, renderConfigurationPage } from '../scripts/config-doc.ts'
import { configSchema, configVariableMeanings } from '../src/config.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const README_MAX_LINES = 250

const pages = [
  'README.md',
  'sdk/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
]

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-')
}

/** The anchors of a markdown file's headings (outside code blocks), with GitHub's -1, -2 for repeats. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let inCode = false
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inCode = !inCode
    if (inCode) continue
    const heading = /^#{1,6}\s+(.*)$/.exec(line)
    if (!heading?.[1]) continue
    const anchor = headingAnchor(heading[1])
    const count = seen.get(anchor) ?? 0
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`)
    seen.set(anchor, count + 1)
  }
  return anchors
}

/** Markdown links `[text](target)` outside code blocks and inline code, with their line numbers. */
export function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = []
  let inCode = false
  for (const [index, line] of markdown.split('\n').entries()) {
    if (/^\s*(```|~~~)/.test(line)) inCode = !inCode
    if (inCode) continue
    const text = line.replace(/`[^`]*`/g, '')
    for (const match of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g))
      if (match[1]) links.push({ target: match[1], line: index + 1 })
  }
  return links
}

/** Why a relative link from `page` does not resolve, or undefined when it does. */
function brokenLink(page: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined // http:, https:, mailto:
  const [path = '', anchor] = target.split('#')
  const file = path === '' ? join(ROOT, page) : resolve(ROOT, dirname(page), decodeURI(path))
  if (!relative(ROOT, file) || relative(ROOT, file).startsWith('..')) return 'points outside the repository'
  if (!existsSync(file)) return 'no such file'
  if (anchor === undefined) return undefined
  if (statSync(file).isDirectory() || !file.endsWith('.md'))
    return 'an anchor into a file that is not markdown'
  if (!anchorsOf(readFileSync(file, 'utf8')).has(anchor))
    return `no heading #${anchor} in ${relative(ROOT, file)}`
  return undefined
}

t.test('every relative link in the docs resolves inside the repository', async (t) => {
  let checked = 0
  for (const page of pages) {
    const markdown = readFileSync(join(ROOT, page), 'utf8')
    for (const { target, line } of linksOf(markdown)) {
      checked++
      const why = brokenLink(page, target)
      if (why) t.fail(`${page}:${line}: ${target}: ${why}`)
    }
  }
  t.ok(checked > 100, `${checked} links checked in ${pages.length} pages`)
})

t.test('the link check finds what is broken', async (t) => {
  t.equal(brokenLink('README.md', 'docs/no-such-page.md'), 'no such file')
  t.equal(
    brokenLink('README.md', 'docs/api.md#no-such-heading'),
    'no heading #no-such-heading in docs/api.md',
  )
  t.equal(brokenLink('docs/api.md', '../../outside.md'), 'points outside the repository')
  t.equal(brokenLink('docs/api.md', '#idempotency'), undefined)
  t.equal(brokenLink('docs/api.md', 'https://example.com/#x'), undefined)
  t.same(
    [...anchorsOf('# A `code` title: with, punctuation\n## Twice\n## Twice\n```\n# not a heading\n```')],
    ['a-code-title-with-punctuation', 'twice', 'twice-1'],
  )
})

t.test(`README.md is at most ${README_MAX_LINES} lines`, async (t) => {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').trimEnd().split('\n').length
  t.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines`)
})

t.test('docs/configuration.md is what the config schema renders (npm run docs:config)', async (t) => {
  const page = readFileSync(CONFIGURATION_PAGE, 'utf8')
  t.equal(page, renderConfigurationPage(), 'docs/configuration.md is stale: run npm run docs:config')
  for (const variable of Object.keys(configSchema.shape)) {
    t.match(page, `| \`${variable}\` |`, `${variable} has a row`)
    t.ok(
      configVariableMeanings[variable as keyof typeof configVariableMeanings]?.trim(),
      `${variable} has a meaning`,
    )
  }
})
