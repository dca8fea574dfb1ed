/**
 * `swarmd git` at scale: a daemon holding N results (each its own train.py, on a random earlier
 * result or the default), then the CLI's first run (every result), a run after 100 more, a run
 * with nothing new, and `export --git`; `results --json` beside them is what listing the results
 * alone costs. `npm run bench:git -- 5000` (default 1000).
 */
import { execa } from 'execa'
import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import { SWARMD_BIN } from '../test/helpers/daemon-process.js'
import { startInProcessDaemon, stopAndRemove, tempDir } from '../test/helpers/in-process-daemon.js'
import { sha256Hex } from '../src/util/hash.js'
import type { Daemon } from '../src/daemon/daemon.js'

const METRICS = { training_seconds: 20, total_seconds: 22, peak_vram_mb: 2048, mfu_percent: 0, total_tokens_M: 1, num_steps: 100, num_params_M: 0.1, depth: 2 }

async function appendResults (daemon: Daemon, ids: string[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const n = ids.length
    // A seeded walk (no Math.random): each result on one of the last 50, or on the default now and then.
    const parent = n === 0 || n % 97 === 0 ? null : ids[n - 1 - ((n * 7919) % Math.min(n, 50))]!
    const code = Buffer.from(`${daemon.defaultSource}\n# experiment ${n}\nWIDTH_${n} = ${n}\n`)
    await daemon.network.blobs.add(code)
    const stored = await daemon.state.append('result', {
      claimId: sha256Hex(`claim ${n}`), parent, codeHash: sha256Hex(code), logHash: 'e'.repeat(64),
      description: `experiment ${n}: width ${n}`, delta: [], status: n % 10 === 0 ? 'crash' : 'keep',
      metrics: n % 10 === 0 ? null : { ...METRICS, val_bpb: 1 + (n % 1000) / 1000 },
      crash: n % 10 === 0 ? { reason: 'oom', detail: 'out of memory' } : null,
      hardware: { gpu: 'cpu', vramGb: 0, tier: daemon.research.tier }, harness: daemon.research.harness
    })
    ids.push(stored.id)
  }
}

async function timed (what: string, args: string[]): Promise<void> {
  const started = performance.now()
  const run = await execa(process.execPath, [SWARMD_BIN, ...args], { reject: false })
  const seconds = (performance.now() - started) / 1000
  if (run.exitCode !== 0) throw new Error(`${what} failed: ${run.stderr}`)
  console.log(`${what.padEnd(34)} ${seconds.toFixed(2)} s   ${run.stdout.split('\n')[0] ?? ''}`)
}

const count = Number(process.argv[2] ?? 1000)
const daemon = await startInProcessDaemon()
const work = await tempDir('swarmd-bench-git-')
try {
  const ids: string[] = []
  let started = performance.now()
  await appendResults(daemon, ids, count)
  console.log(`appended ${count} results in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const dir = join(work, 'lineage')
  const cli = ['--data-dir', daemon.paths.root]
  // The daemon's first listing after the appends costs it most (duplicate marks): paid here, not by git's first run.
  await timed('results --json, first listing', [...cli, 'results', '--json'])
  await timed('results --json, again', [...cli, 'results', '--json'])
  await timed(`git: first run, ${count} results`, [...cli, 'git', dir])
  await appendResults(daemon, ids, 100)
  await timed('git: 100 new results', [...cli, 'git', dir])
  await timed('git: nothing new', [...cli, 'git', dir])
  await timed(`export --git: ${count + 100} results`, [...cli, 'export', '--git', dir, join(work, 'results.tsv')])
} finally {
  await stopAndRemove(daemon)
  await rm(work, { recursive: true, force: true })
}
