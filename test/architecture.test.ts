/**
 * The layer order of src/, top to bottom. A file may import from its own layer or any layer below it,
 * never from one above (types included: a type two layers need lives in the lower one):
 *
 *   entry       src/server.ts, src/app.ts: the process and the table of contents
 *   routes      src/routes/<domain>/: HTTP only, the route files and their HTTP-only schemas
 *   plugins     src/plugins/: the platform (auth, problem details, OpenAPI, metrics, request ids and
 *               logs, body budget, drain, rate limit, the idempotency hook) and the composition root
 *   services    src/services/<domain>/: the domains, their read models and the zod schemas they share
 *               with the routes
 *   workers     src/workers/: the claim loop the domains' workers share (slots, poll, wake, stopping)
 *   flex, db    src/flex/ (the Flex client alone), src/db/ (Prisma, transactions, migrations): siblings
 *               that never import each other
 *   upstream    src/upstream/: reading an upstream answer bounded by size, for the Flex client
 *   telemetry   src/telemetry/: the one door to OpenTelemetry, used by every layer above (a sibling of
 *               upstream: neither imports the other)
 *   foundation  src/config.ts, src/package-info.ts, src/errors/ (domain errors), src/schemas/ (value
 *               schemas every layer shares: ids, ETags, departments, pages), src/generated/
 *
 * Inside a layer imports may go sideways, but never round in a cycle: a cycle means one of its imports
 * points up, however the layers are drawn (e.g. the crew services read the sync status from
 * services/sync/sync-status.ts, which imports nothing of crew; the sync service uses the crew services).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Layer {
  name: string
  rank: number
  owns: (file: string) => boolean
}
const under = (dir: string) => (file: string) => file.startsWith(dir)
const oneOf =
  (...files: string[]) =>
  (file: string) =>
    files.includes(file)
export const LAYERS: Layer[] = [
  { name: 'entry', rank: 5, owns: oneOf('src/server.ts', 'src/app.ts') },
  { name: 'routes', rank: 4, owns: under('src/routes/') },
  { name: 'plugins', rank: 3, owns: under('src/plugins/') },
  { name: 'services', rank: 2, owns: under('src/services/') },
  { name: 'workers', rank: 1.5, owns: under('src/workers/') },
  { name: 'flex', rank: 1, owns: under('src/flex/') },
  { name: 'db', rank: 1, owns: under('src/db/') },
  { name: 'upstream', rank: 0.5, owns: under('src/upstream/') },
  { name: 'telemetry', rank: 0.5, owns: under('src/telemetry/') },
  {
    name: 'foundation',
    rank: 0,
    owns: (file) =>
      oneOf('src/config.ts', 'src/package-info.ts')(file) ||
      ['src/errors/', 'src/schemas/', 'src/generated/'].some((dir) => file.startsWith(dir)),
  },
]

function layerOf(file: string): Layer {
  const layer = LAYERS.find((candidate) => candidate.owns(file))
  if (!layer) throw new Error(`${file} is in no layer: add its folder to LAYERS in test/architecture.test.ts`)
  return layer
}

function sourceFiles(dir: string): string[] {
  return readdirSync(posix.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = posix.join(dir, entry.name)
    if (entry.isDirectory()) return path === 'src/generated' ? [] : sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/**
 * The specifiers a TypeScript file imports (`import … from`, `export … from`, `import '…'`,
 * `import('…')`), read by a small scanner that skips comments and the insides of other strings, so a
 * specifier quoted in a comment or a message is not taken for an import.
 */
export function importSpecifiers(source: string): string[] {
  const code: string[] = []
  let i = 0
  while (i < source.length) {
    const c = source[i]
    const next = source[i + 1]
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2)
      i = end === -1 ? source.length : end + 2
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1
      // Keep a string's text only as a placeholder token, so the pattern below sees where it stood.
      code.push(`\uE000${source.slice(i + 1, j)}\uE000`)
      i = j + 1
    } else {
      code.push(c as string)
      i++
    }
  }
  const text = code.join('')
  const specifiers: string[] = []
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)\uE000([^\uE000]*)\uE000/g
  for (const match of text.matchAll(pattern)) specifiers.push(match[1] as string)
  return specifiers
}

/** Every import of one src file by another, as [importer, imported] paths relative to the repository. */
function internalImports(): Array<[string, string]> {
  return sourceFiles('src').flatMap((file) =>
    importSpecifiers(readFileSync(posix.join(ROOT, file), 'utf8'))
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier): [string, string] => [
        file,
        posix.normalize(posix.join(posix.dirname(file), specifier)),
      ]),
  )
}

t.test('the scanner reads every form of import and nothing in comments or strings', async (t) => {
  const source = [
    "import t from 'tap'",
    "import type { A } from '../a.ts'",
    'import {\n  b,\n  c,\n} from "./b.ts"',
    "export { d } from './d.ts'",
    "import './side-effect.ts'",
    "const e = await import('./e.ts')",
    "// import { x } from './commented.ts'",
    "/* import { y } from './block.ts' */",
    'const message = "see import { z } from \'./quoted.ts\'"',
  ].join('\n')
  t.same(importSpecifiers(source), ['tap', '../a.ts', './b.ts', './d.ts', './side-effect.ts', './e.ts'])
})

t.test('no src file imports from a layer above its own', async (t) => {
  const upward = internalImports()
    .filter(([from, to]) => layerOf(to).rank > layerOf(from).rank)
    .map(([from, to]) => `${from} (${layerOf(from).name}) imports ${to} (${layerOf(to).name})`)
  t.same(upward, [], 'imports that point up')
})

t.test('siblings of one rank do not import each other', async (t) => {
  const sideways = internalImports()
    .filter(([from, to]) => layerOf(to).rank === layerOf(from).rank && layerOf(to) !== layerOf(from))
    .map(([from, to]) => `${from} (${layerOf(from).name}) imports ${to} (${layerOf(to).name})`)
  t.same(sideways, [], 'imports between sibling layers')
})

t.test('no import cycle between src files', async (t) => {
  const edges = new Map<string, string[]>()
  for (const [from, to] of internalImports()) edges.set(from, [...(edges.get(from) ?? []), to])
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '))
      return
    }
    state.set(file, 'open')
    for (const to of edges.get(file) ?? []) visit(to, [...path, file])
    state.set(file, 'done')
  }
  for (const file of edges.keys()) visit(file, [])
  t.same(cycles, [], 'import cycles')
})
