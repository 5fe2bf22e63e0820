/**
 * npm run lint:openapi (part of npm run lint): lints the OpenAPI document the server serves with Spectral,
 * the core `spectral:oas` rules and the OWASP API Security Top 10 (2023) ruleset, as a security review
 * would. The project ruleset (.spectral.yaml) names every waiver: the rule, the paths and the reason.
 *
 * The document is generated in-process (scripts/served-document.ts, no database needed) and written to a
 * temporary file, so what is linted is what GET /openapi.json answers, not the committed sdk/openapi.json.
 * Any error fails the command (exit 1) and is printed; warnings are counted only (--json lists them).
 *
 * `--json FILE` also writes Spectral's findings as JSON (test/openapi-lint.test.ts reads them).
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { servedDocument } from './served-document.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SPECTRAL = join(ROOT, 'node_modules', '.bin', 'spectral')
const RULESET = join(ROOT, '.spectral.yaml')

async function main(): Promise<void> {
  const jsonAt = process.argv.indexOf('--json')
  const jsonFile = jsonAt >= 0 ? process.argv[jsonAt + 1] : undefined
  const work = await mkdtemp(join(tmpdir(), 'rostersync-openapi-lint-'))
  try {
    const document = join(work, 'openapi.json')
    await writeFile(document, `${JSON.stringify(await servedDocument(), null, 2)}\n`)
    const args = [
      'lint',
      document,
      '--ruleset',
      RULESET,
      '--fail-severity',
      'error',
      '--display-only-failures',
    ]
    const env = { ...process.env, SCARF_ANALYTICS: 'false', DO_NOT_TRACK: '1' }
    if (jsonFile) {
      const json = spawnSync(SPECTRAL, [...args, '--format', 'json', '--output', jsonFile, '--quiet'], {
        cwd: ROOT,
        env,
        stdio: 'inherit',
      })
      if (json.error) throw json.error
    }
    const result = spawnSync(SPECTRAL, [...args, '--format', 'stylish'], { cwd: ROOT, env, stdio: 'inherit' })
    if (result.error) throw result.error
    process.exitCode = result.status ?? 1
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(`npm run lint:openapi: ${error instanceof Error ? error.message : error}`)
  process.exit(1)
})
