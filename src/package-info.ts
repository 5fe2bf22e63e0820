import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface PackageInfo {
  name: string
  version: string
  license: string
}

/**
 * rostersync's own package.json (name, version, license), found by walking up from this file: it sits two
 * levels up from src/ when run from source, three from dist/src/ when built, and beside dist/ in the image.
 */
function findPackage(): { info: PackageInfo; root: string } {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Partial<PackageInfo>
      if (json.name === 'rostersync' && json.version && json.license)
        return { info: { name: json.name, version: json.version, license: json.license }, root: dir }
    } catch {
      // no package.json here (or not ours): keep walking up
    }
    const parent = dirname(dir)
    if (parent === dir)
      throw new Error("rostersync's package.json (with name, version and license) was not found")
    dir = parent
  }
}

const found = findPackage()

export const packageInfo: PackageInfo = found.info

/** The folder of rostersync's package.json: the project's root, which holds dist/ once built. */
export const packageRoot: string = found.root
