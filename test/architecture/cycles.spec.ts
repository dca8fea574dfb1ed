import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's src/, from dist/test/architecture. */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src')

async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await sourceFiles(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/**
 * The files a file imports at run time: `import ... from './x.js'`, `export ... from` and
 * `import './x.js'`, not
 * `import type` (erased by the compiler) nor an import whose every name is `type`.
 */
async function runtimeImports (file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^'"]*?)\s*from\s+'(\.[^']+)'/gm)) {
    if (m[2] !== undefined) continue
    const names = /^\{([^}]*)\}$/.exec(m[3]!.trim())?.[1]
    if (names !== undefined && names.split(',').map((n) => n.trim()).filter(Boolean).every((n) => n.startsWith('type '))) continue
    out.push(resolve(dirname(file), m[4]!.replace(/\.js$/, '.ts')))
  }
  for (const m of text.matchAll(/^import\s+'(\.[^']+)'/gm)) out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')))
  return out
}

/** Strongly connected components of more than one file (Tarjan): the import cycles. */
function cycles (graph: Map<string, string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!))
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) found.push(component)
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

describe('imports: no cycles among src/ files at run time', () => {
  it('finds none (type-only imports are erased and do not count)', async () => {
    const graph = new Map<string, string[]>()
    for (const file of await sourceFiles(SRC)) graph.set(file, await runtimeImports(file))
    assert.ok(graph.size > 50, `read ${graph.size} files`)
    const found = cycles(graph).map((c) => c.map((f) => relative(SRC, f)).sort())
    assert.deepEqual(found, [])
  })

  it('the check sees a cycle where there is one', () => {
    assert.deepEqual(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])).map((c) => c.sort()), [['a', 'b', 'c']])
  })
})
