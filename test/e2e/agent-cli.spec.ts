import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { copyFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { DaemonProcess, cleanupDaemons, describeRun, e2eTempDir, runCli } from '../helpers/daemon-process.js'
import { requirePython } from '../helpers/python.js'
import type { CliResult } from '../helpers/daemon-process.js'

/** The harness's own train.py (the default every daemon knows): the agent's starting point. */
const HARNESS_TRAIN_PY = fileURLToPath(new URL('../../../train/train.py', import.meta.url))

/** A run log as train.py prints it: progress lines, then the summary block the daemon parses. */
function runLog (valBpb: number): string {
  return [
    'progress: step 50 loss 3.1000 bpb lr 1.00e-02 50/100 steps',
    'progress: step 100 loss 2.9000 bpb lr 0.00e+00 100/100 steps',
    '---',
    `val_bpb: ${valBpb.toFixed(6)}`,
    'training_seconds: 30.1',
    'total_seconds: 34.8',
    'peak_vram_mb: 0.0',
    'mfu_percent: 0.00',
    'total_tokens_M: 0.205',
    'num_steps: 100',
    'num_params_M: 0.110',
    'depth: 2',
    ''
  ].join('\n')
}

const UNKNOWN_ID = 'e'.repeat(64)

interface ResultJson { id: string, claimId: string, parent: string | null, status: string, metrics: { val_bpb: number } | null, delta: Array<{ name: string, from: unknown, to: unknown }> }
interface ClaimJson { id: string, status: string, parent: string | null, codeHash: string | null, expiresAt: number, results: string[], delta: Array<{ name: string, from: unknown, to: unknown }> }

function ok (run: CliResult, what: string): string {
  assert.equal(run.code, 0, `${what}: ${describeRun(run)}`)
  return run.stdout.trim()
}

/** An error exit: the code, and one line on stderr that carries the error code. */
function fails (run: CliResult, exit: number, errorCode: string | RegExp, what: string): string {
  assert.equal(run.code, exit, `${what}: ${describeRun(run)}`)
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `${what}: one line on stderr\n${describeRun(run)}`)
  assert.match(lines[0]!, typeof errorCode === 'string' ? new RegExp(`\\(${errorCode}\\)`) : errorCode, `${what}: ${describeRun(run)}`)
  return lines[0]!
}

describe('e2e: the agent API from the CLI (issue 4 §5)', { timeout: 150_000 }, () => {
  let daemon: DaemonProcess
  let work: string

  before(async () => {
    daemon = await DaemonProcess.start({ name: 'agent', args: ['--claim-settle-ms', '50'] })
    work = await e2eTempDir('swarmd-agent-')
  })
  after(async () => { await cleanupDaemons() })

  const inWork = (file: string): string => join(work, file)

  it('runs the program.md loop: best --pull, edit, claim, heartbeat, publish', async () => {
    const trainPy = inWork('train.py')
    // Nothing has run yet: there is no best to pull, and the CLI says so with "not found".
    const none = fails(await daemon.cli(['best', '--pull', trainPy]), 6, 'RESULT_NOT_FOUND', 'best before any result')
    assert.match(none, /harness's train\.py/, 'says where to start instead')

    // A baseline on the harness's train.py, so the swarm has a best.
    await copyFile(HARNESS_TRAIN_PY, trainPy)
    const baselineClaim = ok(await daemon.cli(['claim', 'baseline: the harness train.py as shipped', '--parent', 'none', '--code', trainPy]), 'baseline claim')
    await writeFile(inWork('baseline.log'), runLog(1.5))
    const baselinePublished = ok(await daemon.cli(['publish', '--claim', baselineClaim, '--log', inWork('baseline.log'), '--code', trainPy]), 'publish baseline')
    const baseline = baselinePublished.split(' ')[0]!
    assert.match(baselinePublished, /^[0-9a-f]{64} keep val_bpb 1\.500000$/, 'no parent to beat: kept')

    // The loop proper, as an agent runs it.
    await writeFile(trainPy, 'stale')
    // A file with edits no result has is the user's work: not overwritten without --force.
    const kept = fails(await daemon.cli(['best', '--pull', trainPy]), 2, 'CLI_LOCAL_EDITS', 'best --pull over local edits')
    assert.match(kept, /--force/)
    assert.equal(await readFile(trainPy, 'utf8'), 'stale')
    fails(await daemon.cli(['best', '--pull', inWork('no-such-dir/train.py')]), 2, 'CLI_FILE_UNWRITABLE', 'best --pull into a missing folder')
    const best = ok(await daemon.cli(['best', '--pull', trainPy, '--force']), 'best --pull --force')
    assert.match(best, new RegExp(`result ${baseline.slice(0, 12)}`))
    assert.equal(await readFile(trainPy, 'utf8'), await readFile(HARNESS_TRAIN_PY, 'utf8'), 'best --pull wrote the best result\'s train.py')
    const source = await readFile(trainPy, 'utf8')
    assert.match(source, /^LEARNING_RATE = 0\.01\b/m)
    await writeFile(trainPy, source.replace(/^LEARNING_RATE = 0\.01\b/m, 'LEARNING_RATE = 0.02'))

    const claimRun = await daemon.cli(['claim', 'LR 0.01 -> 0.02: faster convergence', '--code', trainPy])
    const claimId = ok(claimRun, 'claim')
    assert.match(claimId, /^[0-9a-f]{64}$/, 'the claim id alone on stdout, so id=$(swarmd claim ...) works')
    const [claim] = (JSON.parse(ok(await daemon.cli(['claims', '--active', '--json']), 'claims')) as ClaimJson[]).filter((c) => c.id === claimId)
    assert.ok(claim !== undefined, 'the claim is active')
    assert.equal(claim.parent, baseline, 'no --parent: the claim builds on the best')
    assert.deepEqual(claim.delta, [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }], 'the delta is read from the edited train.py')

    // The same experiment again: refused, naming the claim it repeats.
    const again = fails(await daemon.cli(['claim', 'LR 0.01 -> 0.02: faster convergence', '--code', trainPy]), 3, 'CLAIM_DUPLICATE', 'the same claim again')
    assert.ok(again.includes(claimId), `names the first claim: ${again}`)
    assert.match(again, /exact/)
    assert.match(again, new RegExp(daemon.peerId), 'names its author')
    // The same idea in other words, without code: refused by the semantic layer, with its score.
    const reworded = await daemon.cli(['claim', 'learning rate 0.01 -> 0.02', '--json'])
    const semantic = fails(reworded, 3, 'CLAIM_DUPLICATE', 'the same idea reworded')
    assert.match(semantic, /semantic, similarity 0\.\d\d/, semantic)
    const { duplicate } = JSON.parse(reworded.stdout) as { duplicate: { layer: string, score: number, conflict: { kind: string, id: string, description: string } } }
    assert.equal(duplicate.layer, 'semantic')
    assert.equal(duplicate.conflict.kind, 'claim')
    assert.equal(duplicate.conflict.id, claimId)
    assert.ok(duplicate.score >= 0.7 && duplicate.score <= 1, `score ${duplicate.score}`)

    // Training: heartbeats keep the claim alive.
    const beat = ok(await daemon.cli(['heartbeat', claimId]), 'heartbeat')
    assert.match(beat, /heartbeat again within/)
    const [afterBeat] = (JSON.parse(ok(await daemon.cli(['claims', '--json']), 'claims')) as ClaimJson[]).filter((c) => c.id === claimId)
    assert.ok(afterBeat!.expiresAt > claim.expiresAt, 'the heartbeat moved the expiry on')

    await writeFile(inWork('run.log'), runLog(1.4))
    const published = ok(await daemon.cli(['publish', '--claim', claimId, '--log', inWork('run.log'), '--code', trainPy]), 'publish')
    const resultId = published.split(' ')[0]!
    assert.match(published, /^[0-9a-f]{64} keep val_bpb 1\.400000$/, 'beats its parent (1.5): kept')

    const results = JSON.parse(ok(await daemon.cli(['results', '--json']), 'results')) as ResultJson[]
    const result = results.find((r) => r.id === resultId)
    assert.ok(result !== undefined, 'the result is listed')
    assert.equal(result.metrics?.val_bpb, 1.4, 'val_bpb parsed from the log')
    assert.equal(result.claimId, claimId)
    assert.equal(result.parent, baseline)
    assert.equal(result.status, 'keep')
    assert.deepEqual(result.delta, [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }])
    const [finished] = (JSON.parse(ok(await daemon.cli(['claims', '--json']), 'claims')) as ClaimJson[]).filter((c) => c.id === claimId)
    assert.equal(finished!.status, 'finished')
    assert.deepEqual(finished!.results, [resultId])
    // The next agent starts from the new best, over a file that holds an earlier pull (the baseline's source): no --force needed.
    await copyFile(HARNESS_TRAIN_PY, trainPy)
    assert.match(ok(await daemon.cli(['best', '--pull', trainPy]), 'best --pull over an earlier pull'), /^best on cpu, time budget: val_bpb 1\.400000/, 'labelled with the budget it ranks in')
    assert.match(ok(await daemon.cli(['status']), 'status'), /^best {5}cpu, time budget \(\d+ results\): 1\.400000 "LR 0\.01 -> 0\.02: faster convergence" by this node$/m, 'status names the best of each tier and budget')
    assert.match(ok(await daemon.cli(['results']), 'results'), new RegExp(`^${resultId.slice(0, 12)}  on ${baseline.slice(0, 12)}  1\\.4000 +keep +cpu +time budget `, 'm'))
    assert.match(await readFile(trainPy, 'utf8'), /^LEARNING_RATE = 0\.02\b/m)
  })

  it('gives each error its own exit code and a one-line message that says what to do', async () => {
    const trainPy = inWork('other.py')
    await copyFile(HARNESS_TRAIN_PY, trainPy)
    const summary = inWork('summary.log')
    await writeFile(summary, runLog(1.45))
    const noSummary = inWork('no-summary.log')
    await writeFile(noSummary, 'Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n')

    // 2: usage.
    for (const args of [['claim'], ['claim', 'x', '--bogus'], ['publish', '--claim', UNKNOWN_ID, '--code', trainPy], ['claim', 'x', '--ttl-ms', '-5'], ['publish', '--claim', UNKNOWN_ID, '--log', summary, '--code', trainPy, '--status', 'great'], ['hypothesis', 'frobnicate']]) {
      const line = fails(await daemon.cli(args), 2, /^swarmd: .*--help/, `usage: ${args.join(' ')}`)
      assert.doesNotMatch(line, /^swarmd: $/)
    }
    fails(await daemon.cli(['claim', 'x', '--code', inWork('missing.py')]), 2, 'CLI_FILE_UNREADABLE', 'a --code file that is not there')
    fails(await daemon.cli(['blob', 'add', inWork('missing.bin')]), 2, 'CLI_FILE_UNREADABLE', 'blob add of a file that is not there')

    // 4: no daemon for this data dir.
    const empty = await e2eTempDir()
    const noDaemon = fails(await runCli(['--data-dir', empty, 'claim', 'LR 0.01 -> 0.03', '--code', trainPy]), 4, 'DAEMON_NOT_RUNNING', 'claim without a daemon')
    assert.match(noDaemon, /swarmd start/, 'says how to start one')

    // 6: not found.
    fails(await daemon.cli(['heartbeat', UNKNOWN_ID]), 6, 'CLAIM_NOT_FOUND', 'heartbeat of an unknown claim')
    fails(await daemon.cli(['release', UNKNOWN_ID]), 6, 'CLAIM_NOT_FOUND', 'release of an unknown claim')
    fails(await daemon.cli(['publish', '--claim', UNKNOWN_ID, '--log', summary, '--code', trainPy]), 6, 'CLAIM_NOT_FOUND', 'publish to an unknown claim')
    fails(await daemon.cli(['hypothesis', 'show', 'deadbeefdeadbeef']), 6, 'HYPOTHESIS_NOT_FOUND', 'an unknown hypothesis')
    fails(await daemon.cli(['claim', 'weight decay 0.0 -> 0.2', '--parent', UNKNOWN_ID]), 6, 'RESULT_NOT_FOUND', 'an unknown parent')

    // 5 and 7 on a claim that is released: refused input first, then closed.
    const idea = ok(await daemon.cli(['claim', 'weight decay 0.0 -> 0.1 to regularise', '--parent', 'none']), 'an idea claimed before its code')
    fails(await daemon.cli(['publish', '--claim', idea, '--log', noSummary, '--code', trainPy, '--status', 'keep']), 5, 'RESULT_INVALID', 'keep without a summary block')
    assert.match(ok(await daemon.cli(['release', idea.slice(0, 12)]), 'release by prefix'), new RegExp(`released ${idea}`))
    const released = fails(await daemon.cli(['heartbeat', idea]), 7, 'CLAIM_CLOSED', 'heartbeat of a released claim')
    assert.match(released, /swarmd claim/, `says to claim again: ${released}`)
    fails(await daemon.cli(['release', idea]), 7, 'CLAIM_CLOSED', 'release of a released claim')
    fails(await daemon.cli(['publish', '--claim', idea, '--log', summary, '--code', trainPy]), 7, 'CLAIM_CLOSED', 'publish to a released claim')

    // 7 on a finished claim.
    const clip = ok(await daemon.cli(['claim', 'gradient clipping 1.0 -> 0.5', '--parent', 'none']), 'claim')
    ok(await daemon.cli(['publish', '--claim', clip, '--log', summary, '--code', trainPy]), 'publish')
    fails(await daemon.cli(['heartbeat', clip]), 7, 'CLAIM_CLOSED', 'heartbeat of a finished claim')
    fails(await daemon.cli(['publish', '--claim', clip, '--log', summary, '--code', trainPy]), 7, 'CLAIM_CLOSED', 'publish to a finished claim')

    // 3: a hypothesis the list already has.
    const title = 'longer warmup stabilises the higher learning rate'
    const hypothesis = ok(await daemon.cli(['hypothesis', 'add', title, '--text', 'WARMUP_STEPS 20 -> 40 with LR 0.02', '--delta', 'WARMUP_STEPS=20:40', '--priority', '7']), 'hypothesis add')
    const dup = fails(await daemon.cli(['hypothesis', 'add', title, '--text', 'again']), 3, 'HYPOTHESIS_DUPLICATE', 'the same hypothesis again')
    assert.ok(dup.includes(hypothesis), `names the first: ${dup}`)
    const shown = ok(await daemon.cli(['hypothesis', 'show', hypothesis.slice(0, 10)]), 'hypothesis show by prefix')
    assert.match(shown, new RegExp(`^${title}$`, 'm'))
    assert.match(shown, /state {5}open, priority 7/)
    assert.match(shown, /WARMUP_STEPS 20 → 40/)
    for (const list of [['hypothesis', 'list'], ['hypotheses']]) {
      assert.match(ok(await daemon.cli(list), list.join(' ')), new RegExp(`^${hypothesis.slice(0, 12)} {2}open`, 'm'))
    }
    // Testing it: a claim that names the hypothesis (by prefix) moves it to "claimed".
    const testing = ok(await daemon.cli(['claim', 'warmup 20 -> 40 steps', '--parent', 'none', '--hypothesis', hypothesis.slice(0, 10)]), 'claim for a hypothesis')
    const claimed = ok(await daemon.cli(['hypothesis', 'show', hypothesis]), 'hypothesis show')
    assert.match(claimed, /state {5}claimed/)
    assert.match(claimed, new RegExp(`claimed {3}${testing}`))

    // 8: over the hourly allowance (config.json in the data dir: hypothesesPerHour 1).
    const limited = await DaemonProcess.start({ name: 'limited', config: { hypothesesPerHour: 1 } })
    ok(await limited.cli(['hypothesis', 'add', 'a first idea', '--text', 'fine']), 'first hypothesis')
    const rate = fails(await limited.cli(['hypothesis', 'add', 'an unrelated second idea', '--text', 'too many']), 8, 'HYPOTHESIS_RATE_LIMITED', 'over the allowance')
    assert.match(rate, /wait/)

    // 5: a token that is not the daemon's (the CLI reads it from the data dir).
    const tokenFile = join(limited.dataDir, 'api-token')
    const token = await readFile(tokenFile, 'utf8')
    await writeFile(tokenFile, 'not-the-token\n')
    try {
      fails(await limited.cli(['claim', 'batch size 16 -> 32', '--parent', 'none']), 5, 'API_UNAUTHORIZED', 'a wrong token')
    } finally {
      await writeFile(tokenFile, token)
    }
  })

  it('workspace: a folder where train.py runs as the daemon runs it; a run to another budget is refused', { timeout: 180_000 }, async () => {
    await requirePython()
    const dir = join(work, 'workspace')
    const made = ok(await daemon.cli(['workspace', dir]), 'workspace')
    assert.match(made, /train\.py: (the best on cpu|the harness's own)/, 'starts from the swarm\'s best, or the harness\'s train.py before there is one')
    for (const file of ['train.py', 'prepare.py', 'program.md', 'env.sh']) assert.ok(await readFile(join(dir, file)).then(() => true, () => false), `${file} is in the workspace`)
    const env = await readFile(join(dir, 'env.sh'), 'utf8')
    assert.match(env, /^export SWARMD_PROFILE='cpu'$/m)
    assert.match(env, /^export SWARMD_SOTU_DIR='\/.+'$/m)
    assert.match(env, /^unset MAX_STEPS$/m, 'this daemon trains to the time budget: no step limit left over')

    // One idea, claimed, then trained for real exactly as program.md says, with a step limit left in the shell.
    const trainPy = join(dir, 'train.py')
    await writeFile(trainPy, (await readFile(trainPy, 'utf8')).replace(/^WEIGHT_DECAY = .*$/m, 'WEIGHT_DECAY = 0.0123'))
    const claim = ok(await daemon.cli(['claim', 'weight decay to 0.0123: a workspace run', '--code', trainPy]), 'claim from the workspace')
    const run = await execa('bash', ['-c', '. ./env.sh && "$PYTHON" train.py > run.log 2>&1'], { cwd: dir, env: { MAX_STEPS: '7' }, reject: false, timeout: 150_000 })
    const log = await readFile(join(dir, 'run.log'), 'utf8')
    assert.equal(run.exitCode, 0, log.slice(-2000))
    assert.doesNotMatch(log, /\/7 steps/, 'env.sh took the stray MAX_STEPS away')
    const published = ok(await daemon.cli(['publish', '--claim', claim, '--log', join(dir, 'run.log'), '--code', trainPy]), 'publish the workspace run')
    assert.match(published, /^[0-9a-f]{64} (keep|discard) val_bpb \d/)

    // A run that stopped at a step limit does not compare with this daemon's time-budget runs.
    await writeFile(trainPy, (await readFile(trainPy, 'utf8')).replace(/^WEIGHT_DECAY = .*$/m, 'WEIGHT_DECAY = 0.0456'))
    const short = ok(await daemon.cli(['claim', 'weight decay to 0.0456: a short run', '--code', trainPy]), 'second claim')
    await writeFile(join(dir, 'short.log'), log.replace(/^training_seconds: .*$/m, 'training_seconds: 3.2').replace(/^num_steps: .*$/m, 'num_steps: 7'))
    const refused = fails(await daemon.cli(['publish', '--claim', short, '--log', join(dir, 'short.log'), '--code', trainPy]), 5, 'RESULT_INVALID', 'a step-limited run')
    assert.match(refused, /MAX_STEPS/, 'says which setting made the difference')
  })

  it('documents the commands and exit codes in --help', async () => {
    const top = ok(await runCli(['--help']), '--help')
    for (const command of ['claim', 'heartbeat', 'release', 'claims', 'publish', 'hypothesis', 'hypotheses', 'best']) {
      assert.match(top, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists "${command}"`)
    }
    const claimHelp = ok(await runCli(['claim', '--help']), 'claim --help')
    assert.match(claimHelp, /3 duplicate/)
    assert.match(claimHelp, /7 claim closed/)
    const start = ok(await runCli(['start', '--help']), 'start --help')
    assert.match(start, /--claim-settle-ms/)
    assert.match(start, /--claim-ttl-ms/)
  })
})
