import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's src/, from dist/test/architecture. */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src')

/** Arrows the layers must not have: files under `from` never import anything under `to`. */
const FORBIDDEN: Array<{ from: string, to: string, why: string }> = [
  { from: 'claims', to: 'agent', why: 'the research loop builds on the claims, not the reverse' },
  { from: 'runner', to: 'agent', why: 'the runner runs what any caller hands it' },
  { from: 'state', to: 'p2p', why: 'state and p2p meet only at p2p/replica-port.ts' },
  { from: 'embedding', to: 'claims', why: 'the embedders turn text into vectors for whoever asks; dedup and hypotheses use them' },
  { from: 'http', to: 'daemon', why: 'the API is served through its ports (http/api-ports.ts); the daemon wires them' }
]

/** What the HTTP tests may not start: they run on the in-memory fixture (test/helpers/api-fixture.ts), no libp2p node. */
const NODE_STARTERS = ['src/daemon/daemon.ts', 'src/p2p/swarm-network.ts', 'src/p2p/libp2p-node.ts', 'test/helpers/in-process-daemon.ts', 'test/helpers/daemon-process.ts']
const ROOT = resolve(SRC, '..')

async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await sourceFiles(path))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

/** The src/-relative folders a file imports from (type imports included: they are arrows too). */
async function importedFolders (file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  const specifiers = [...text.matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => m[1]!)
  return specifiers.map((s) => relative(SRC, resolve(dirname(file), s)).split('/')[0]!)
}

describe('layers: the arrows between src/ folders run one way', () => {
  for (const rule of FORBIDDEN) {
    it(`nothing under src/${rule.from} imports src/${rule.to} (${rule.why})`, async () => {
      const offenders: string[] = []
      for (const file of await sourceFiles(join(SRC, rule.from))) {
        if ((await importedFolders(file)).includes(rule.to)) offenders.push(relative(SRC, file))
      }
      assert.deepEqual(offenders, [])
    })
  }

  it('no HTTP test starts a daemon or a libp2p node (they import none of what does)', async () => {
    const offenders: string[] = []
    for (const file of await sourceFiles(join(ROOT, 'test', 'http'))) {
      const text = await readFile(file, 'utf8')
      for (const m of text.matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)) {
        const target = relative(ROOT, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts')
        if (NODE_STARTERS.includes(target)) offenders.push(`${relative(ROOT, file)} imports ${target}`)
      }
    }
    assert.deepEqual(offenders, [])
  })
})
