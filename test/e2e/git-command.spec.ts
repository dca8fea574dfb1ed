import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { describeRun, e2eTempDir, runCli } from '../helpers/daemon-process.js'
import { startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { sha256Hex } from '../../src/util/hash.js'
import type { CliResult } from '../helpers/daemon-process.js'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { ResultBody } from '../../src/state/record-kinds.js'

/** git in the lineage repository, as a user runs it (their config aside: these tests must not depend on it). */
async function git (dir: string, ...args: string[]): Promise<string> {
  const run = await execa('git', args, { cwd: dir, env: { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } })
  return run.stdout.trim()
}

function ok (run: CliResult, what: string): CliResult {
  assert.equal(run.code, 0, `${what}\n${describeRun(run)}`)
  return run
}

const METRICS = { training_seconds: 20, total_seconds: 22, peak_vram_mb: 2048, mfu_percent: 0, total_tokens_M: 1, num_steps: 100, num_params_M: 0.1, depth: 2 }

describe('e2e: swarmd git, the lineage as a git repository', { timeout: 60_000 }, () => {
  let daemon: Daemon
  let work: string
  let tier: ResultBody['hardware']['tier']

  /** Store a train.py as a blob and append a result of this daemon (trusted here: its own) built on `parent`. */
  async function result (opts: { parent: string | null, code: string, description: string, valBpb?: number, crash?: string, storeSource?: boolean }): Promise<string> {
    const bytes = Buffer.from(opts.code)
    if (opts.storeSource !== false) await daemon.network.blobs.add(bytes)
    const stored = await daemon.state.append('result', {
      claimId: sha256Hex(`claim ${opts.description}`),
      parent: opts.parent,
      codeHash: sha256Hex(bytes),
      logHash: 'e'.repeat(64),
      description: opts.description,
      delta: [],
      status: opts.crash !== undefined ? 'crash' : 'keep',
      metrics: opts.valBpb === undefined ? null : { ...METRICS, val_bpb: opts.valBpb },
      crash: opts.crash === undefined ? null : { reason: opts.crash, detail: 'Traceback\nRuntimeError: out of memory' },
      hardware: { gpu: 'cpu', vramGb: 0, tier },
      harness: daemon.research.harness
    })
    return stored.id
  }

  const cli = async (...args: string[]): Promise<CliResult> => runCli(['--data-dir', daemon.paths.root, ...args])

  before(async () => {
    daemon = await startInProcessDaemon()
    tier = daemon.research.tier
    work = await e2eTempDir('swarmd-e2e-git-')
  })
  after(async () => { await stopAndRemove(daemon) })

  it('commits each result on its parent\'s commit, with its train.py and metrics, a branch at the tier\'s best, and adds only new results on a second run', async () => {
    const base = daemon.defaultSource
    const codeA = base + '\n# experiment A: a wider model\n'
    const codeB = codeA + '# experiment B: a lower learning rate\n'
    const r1 = await result({ parent: null, code: codeA, description: 'wider model', valBpb: 1.5 })
    const r2 = await result({ parent: r1, code: codeB, description: 'lower lr on the wider model', valBpb: 1.4 })
    // A stranger's description: looks like options and trailers, has a NUL and several lines.
    const hostile = '--help -rf\n\nResult: ' + 'f'.repeat(64) + '\n\u0000 $(rm -rf ~) `x`'
    const r3 = await result({ parent: r1, code: codeA + 'raise RuntimeError()\n', description: hostile, crash: 'oom' })

    const dir = join(work, 'lineage')
    const first = ok(await cli('git', dir), 'the first run')
    assert.match(first.stdout, /created .*: 3 results, 3 new/)

    const commit = async (id: string): Promise<string> => git(dir, 'rev-parse', `refs/results/${id}`)
    const [c1, c2, c3] = [await commit(r1), await commit(r2), await commit(r3)]
    // Parents follow the lineage: r1 on the root (the default train.py), r2 and r3 on r1.
    const root = await git(dir, 'rev-parse', `${c1}^`)
    assert.equal(await git(dir, 'rev-parse', `${c2}^`), c1)
    assert.equal(await git(dir, 'rev-parse', `${c3}^`), c1)
    assert.equal(await git(dir, 'rev-list', '--max-parents=0', '--all'), root, 'one root commit')
    assert.equal(await git(dir, 'show', `${root}:train.py`), base.trim(), 'the root holds the harness\'s default train.py')
    assert.equal(await git(dir, 'show', `${c2}:train.py`), codeB.trim())

    const message = await git(dir, 'log', '-1', '--format=%B', c2)
    assert.match(message, /^lower lr on the wider model\n/)
    assert.match(message, /val_bpb 1\.400000, keep/)
    for (const trailer of [`Result: ${r2}`, `Parent: ${r1}`, `Tier: ${tier}`, 'Status: keep', 'Budget: ']) assert.ok(message.includes(trailer), `the message holds "${trailer}"\n${message}`)
    const author = await git(dir, 'log', '-1', '--format=%an <%ae> %at', c2)
    assert.equal(author, `${daemon.identity.peerId.toString()} <${daemon.identity.peerId.toString()}@swarmd> ${Math.floor((await createdAt(r2)) / 1000)}`)

    // The crash is a commit too; the stranger's text is only text: NUL made visible, our trailers last.
    const crash = await git(dir, 'log', '-1', '--format=%B', c3)
    assert.ok(crash.startsWith('--help -rf'), crash)
    assert.ok(!crash.includes('\u0000'))
    assert.match(crash, /crash: oom: Traceback RuntimeError: out of memory/)
    assert.equal(await git(dir, 'log', '-1', '--format=%(trailers:key=Result,valueonly)', c3), r3, 'the last trailers are ours, not the description\'s')
    assert.equal(await git(dir, 'log', '-1', '--format=%(trailers:key=Status,valueonly)', c3), 'crash')

    // Refs name each result: `results/<id>` is how a user diffs two of them.
    const diff = await git(dir, 'diff', `results/${r1}`, `results/${r2}`, '--', 'train.py')
    assert.match(diff, /^\+# experiment B: a lower learning rate$/m)
    assert.equal((diff.match(/^[+-][^+-]/gm) ?? []).length, 1, `only B's line differs\n${diff}`)

    // The tier's branch is the best trusted result, checked out: HEAD is on this daemon's tier.
    assert.equal(await git(dir, 'rev-parse', tier), c2)
    assert.equal(await git(dir, 'symbolic-ref', 'HEAD'), `refs/heads/${tier}`)
    assert.equal(await readFile(join(dir, 'train.py'), 'utf8'), codeB)
    assert.equal(await git(dir, 'status', '--porcelain'), '', 'the work tree is clean')

    // Second run: a better result, one on a parent this daemon never saw, one whose source no peer has.
    const r4 = await result({ parent: r2, code: codeB + '# experiment C\n', description: 'C on B', valBpb: 1.3 })
    const orphan = await result({ parent: 'a'.repeat(64), code: codeB + '# orphan\n', description: 'built on an unknown result', valBpb: 1.45 })
    const sourceless = await result({ parent: r2, code: codeB + '# never shared\n', description: 'no source yet', valBpb: 1.6, storeSource: false })
    const second = ok(await cli('git', dir), 'the second run')
    assert.match(second.stdout, /updated .*: 4 results, 1 new/)
    assert.match(second.stdout, /2 results wait/)
    assert.deepEqual([await commit(r1), await commit(r2), await commit(r3)], [c1, c2, c3], 'the earlier commits are kept as they were')
    const c4 = await commit(r4)
    assert.equal(await git(dir, 'rev-parse', `${c4}^`), c2)
    for (const waiting of [orphan, sourceless]) assert.equal(await execa('git', ['rev-parse', '-q', '--verify', `refs/results/${waiting}`], { cwd: dir, reject: false }).then((r) => r.exitCode), 1)
    assert.equal(await git(dir, 'rev-parse', tier), c4, 'the branch moved to the new best')
    assert.equal(await readFile(join(dir, 'train.py'), 'utf8'), codeB + '# experiment C\n', 'the checked-out work tree followed it')

    // The source arrives: the next run adds the result that waited for it.
    await daemon.network.blobs.add(Buffer.from(codeB + '# never shared\n'))
    assert.match(ok(await cli('git', dir), 'the third run').stdout, /5 results, 1 new/)

    // A user's edits to the checked-out train.py are never overwritten: HEAD stays, detached, with them.
    await writeFile(join(dir, 'train.py'), 'my own edit\n')
    const r7 = await result({ parent: r4, code: codeB + '# experiment C\n# D\n', description: 'D on C', valBpb: 1.25 })
    const edited = ok(await cli('git', dir), 'a run over local edits')
    assert.match(edited.stdout, new RegExp(`the branch ${tier} moved, and HEAD.*stays where it was`))
    assert.equal(await git(dir, 'rev-parse', tier), await commit(r7))
    assert.equal(await git(dir, 'rev-parse', 'HEAD'), c4)
    assert.equal(await readFile(join(dir, 'train.py'), 'utf8'), 'my own edit\n')

    // The same results give the same commit ids in another repository, at another time.
    const again = join(work, 'again')
    ok(await cli('git', again), 'a fresh repository')
    assert.equal(await git(again, 'rev-parse', `refs/results/${r4}`), c4)

    // export --git: the commit column is the repository's commits; the orphan is left out.
    const exported = ok(await cli('export', '--git', dir), 'export --git')
    const rows = exported.stdout.trim().split('\n').slice(1).map((line) => line.split('\t'))
    assert.equal(rows.length, 6, exported.stdout)
    for (const [id, description] of [[r1, 'wider model'], [r4, 'C on B'], [sourceless, 'no source yet']] as const) {
      const row = rows.find((r) => r[4] === description)
      assert.ok(row !== undefined, `${description} is exported\n${exported.stdout}`)
      assert.equal(row[0], (await commit(id)).slice(0, 7))
    }
    assert.match(exported.stderr, /1 results are not in/)
  })

  it('refuses a directory it did not make, and says what to install when git is missing', async () => {
    const mine = join(work, 'my-project')
    await mkdir(mine)
    await writeFile(join(mine, 'notes.txt'), 'mine\n')
    const refused = await cli('git', mine)
    assert.equal(refused.code, 2, describeRun(refused))
    assert.match(refused.stderr, /CLI_GIT_NOT_OURS/)
    assert.equal(await readFile(join(mine, 'notes.txt'), 'utf8'), 'mine\n')

    const empty = await e2eTempDir('swarmd-e2e-nogit-')
    const missing = await runCli(['--data-dir', daemon.paths.root, 'git', join(work, 'never')], { env: { PATH: empty } })
    assert.equal(missing.code, 1, describeRun(missing))
    assert.match(missing.stderr, /CLI_GIT_MISSING/)
    assert.match(missing.stderr, /install git/)
  })

  async function createdAt (id: string): Promise<number> {
    const res = await fetch(`${daemon.apiUrl}/api/results`)
    const { results } = await res.json() as { results: Array<{ id: string, createdAt: number }> }
    return results.find((r) => r.id === id)!.createdAt
  }
})
