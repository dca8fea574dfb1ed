import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { systemClock } from '../../src/util/clock.js'
import { connectWithRetry, startInProcessDaemon, stopAndRemove, tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import { waitFor } from '../helpers/wait.js'
import type { Daemon } from '../../src/daemon/daemon.js'

/** Web-like text: documents separated by blank lines, as `swarmd corpus fetch` writes them. */
const doc = (i: number): string => `document ${i}: ` + Array.from({ length: 60 }, (_, w) => ['the', 'model', 'trains', 'on', 'bytes', 'of', 'web', 'text'][(i * 7 + w * 3) % 8]).join(' ')
const text = (from: number, count: number): string => Array.from({ length: count }, (_, i) => doc(from + i)).join('\n\n')

/**
 * The gpu profile end to end on a CPU (CI has no GPU): `gpu-tiny` is the same code path — the web
 * corpus the daemon fetched, its identity in the swarm key, the harness's splits, pool and
 * evaluation — at a size a CPU runs in seconds.
 */
describe('the gpu path on a CPU: corpus identity and a real run', { timeout: 180_000 }, () => {
  let corpus: string
  const daemons: Daemon[] = []

  before(async () => {
    corpus = await tempDir()
    await writeFile(join(corpus, 'train.txt'), text(0, 1500))
    await writeFile(join(corpus, 'val.txt'), text(5000, 150))
  })
  after(async () => {
    await stopAndRemove(...daemons)
    await rm(corpus, { recursive: true, force: true })
  })

  async function daemon (corpusDir: string): Promise<Daemon> {
    const d = await startInProcessDaemon({ swarm: 'gpu-path-test', profile: 'gpu-tiny', corpus: corpusDir, agent: 'none' })
    daemons.push(d)
    return d
  }

  it('two daemons with the same bytes share a swarm; one byte different and they do not', async () => {
    const copy = await tempDir()
    await cp(corpus, copy, { recursive: true })
    const changed = await tempDir()
    await cp(corpus, changed, { recursive: true })
    const val = await readFile(join(changed, 'val.txt'), 'utf8')
    await writeFile(join(changed, 'val.txt'), val.slice(0, 100) + (val[100] === 'a' ? 'b' : 'a') + val.slice(101))

    const [a, b, c] = [await daemon(corpus), await daemon(copy), await daemon(changed)]
    assert.equal(a.research.swarmKey, b.research.swarmKey)
    assert.notEqual(a.research.swarmKey, c.research.swarmKey)
    assert.match(a.research.swarmKey, /^gpu-path-test-gpu-tiny-[0-9a-f]{16}-[0-9a-f]{16}$/)
    assert.equal(a.research.corpus?.val.sha256, b.research.corpus?.val.sha256)
    // Same swarm: a record of one reaches the other. Another swarm: nothing does.
    await connectWithRetry(b, a)
    await connectWithRetry(c, a)
    const idea = await a.state.append('hypothesis', { title: 'shared on the same bytes', text: '' })
    await waitFor(() => b.state.get('hypothesis', idea.key) !== undefined, { timeoutMs: 10_000, what: 'the record to reach the daemon with the same corpus' })
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    assert.equal(c.state.get('hypothesis', idea.key), undefined, 'a daemon whose validation bytes differ is in another swarm')
    // The status says which data the node has.
    const status = await (await fetch(new URL('/api/status', a.apiUrl))).json() as { research: { corpus: { valSha256: string } | null } }
    assert.equal(status.research.corpus?.valSha256, a.research.corpus?.val.sha256)
  })

  it('a real run through the runner and the sandbox on the gpu code path: scored by the harness on the web corpus', async () => {
    const python = await requirePython()
    const workRoot = await tempDir()
    try {
      const runner = new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, webCorpusDir: corpus, workRoot, clock: systemClock }, { killAfterMs: 120_000 })
      const source = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
      const outcome = await runner.run({ id: 'gpu-tiny-1', source, profile: 'gpu-tiny', maxSteps: 5 })
      assert.equal(outcome.status, 'ok', outcome.logTail)
      assert.equal(outcome.evaluation?.status, 'scored')
      assert.ok(outcome.metrics !== undefined && outcome.metrics !== null && outcome.metrics.val_bpb > 0.2 && outcome.metrics.val_bpb < 9, JSON.stringify(outcome.metrics))
      assert.equal(outcome.metrics.num_steps, 5)
    } finally {
      await rm(workRoot, { recursive: true, force: true })
    }
  })
})
