import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connectWithRetry, recentLog, startInProcessDaemon, stopAndRemove } from '../helpers/in-process-daemon.js'
import { AgentClient, runLog } from '../helpers/agent-client.js'
import { HARNESS_DIR, requirePython } from '../helpers/python.js'
import { waitFor } from '../helpers/wait.js'
import { parseBlobHash } from '../../src/p2p/blob-store.js'
import type { Daemon } from '../../src/daemon/daemon.js'

const STEPS = 5

/**
 * The channel out (issue 11): an attacker publishes a result whose code prints everything it can
 * read, with a number good enough that an honest daemon re-runs it. Whatever the honest daemon
 * then publishes, fetched by the attacker's own daemon over libp2p, holds nothing of the honest
 * daemon's environment or files.
 */
describe('e2e: a result whose code prints all it can read, re-run by an honest daemon', { timeout: 300_000 }, () => {
  const daemons: Daemon[] = []
  const canary = `canary-${randomBytes(12).toString('hex')}`
  let secretDir: string | undefined
  after(async () => {
    await stopAndRemove(...daemons)
    delete process.env.SWARMD_EXFIL_CANARY
    if (secretDir !== undefined) await rm(secretDir, { recursive: true, force: true })
  })

  it('nothing of the honest daemon\'s environment or files reaches the attacker\'s node', async () => {
    const python = await requirePython()
    // The honest daemon's secrets: a variable of its environment, a root-only file in a system folder.
    process.env.SWARMD_EXFIL_CANARY = canary
    secretDir = await mkdtemp('/srv/swarmd-exfil-')
    await writeFile(join(secretDir, 'credentials'), canary, { mode: 0o600 })
    const honest = await startInProcessDaemon({ agent: 'builtin', python, maxSteps: STEPS, maxExperiments: 2, claimSettleMs: 100, maxVerifyShare: 1 })
    const attacker = await startInProcessDaemon({ maxSteps: STEPS, claimSettleMs: 100 })
    daemons.push(honest, attacker)
    await connectWithRetry(attacker, honest)

    const grab = [
      'import os as _os',
      'for _k, _v in sorted(_os.environ.items()):',
      '    print("env", _k, _v)',
      `for _root in ["/srv", "/etc", "/root", "/home", "/var", "/run", ${JSON.stringify(honest.paths.root)}]:`,
      '    for _dir, _subdirs, _files in _os.walk(_root):',
      '        for _name in _files:',
      '            if not _os.path.isfile(_os.path.join(_dir, _name)): continue  # a FIFO would block the reader',
      '            try:',
      '                print("file", _os.path.join(_dir, _name), open(_os.path.join(_dir, _name), errors="replace").read(4096))',
      '            except Exception as _e:',
      '                print("file", _os.path.join(_dir, _name), type(_e).__name__)',
      '        if len(_subdirs) > 200: break'
    ].join('\n')
    const code = `${grab}\n${await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')}`
    const client = await AgentClient.forDataDir(attacker.paths.root, 'attacker')
    const claim = await client.claim({ description: 'a trick that halves val_bpb', code, parent: null })
    assert.ok('claimed' in claim, JSON.stringify(claim))
    const bait = await client.publish({ claim: claim.claimed.id, log: runLog(0.9, { steps: STEPS }), code })

    const me = honest.identity.peerId.toString()
    await waitFor(() => honest.trust.verifiedBy(bait.id, me), {
      timeoutMs: 240_000,
      intervalMs: 500,
      what: () => `the honest daemon to re-run the bait: ${JSON.stringify({ trust: honest.trust.status(bait.id), stats: honest.loops[0]?.stats })}\n${recentLog(honest)}`
    })
    const published = honest.state.list('verification').filter((v) => v.record.author === me)
    assert.equal(published.length, 1)
    // Everything the honest daemon published, as the attacker's node gets it: every record it
    // wrote, and every blob they name, fetched over /swarmd/blob/1.
    await waitFor(() => attacker.state.list('verification').some((v) => v.record.author === me), { timeoutMs: 30_000, what: 'the verification to reach the attacker' })
    const records = (['claim', 'result', 'verification', 'hypothesis'] as const).flatMap((kind) => attacker.state.list(kind).filter((r) => r.record.author === me))
    const text = JSON.stringify(records.map((r) => r.record))
    assert.ok(!text.includes(canary), 'no record of the honest daemon holds the canary')
    let blobs = 0
    for (const r of records) {
      const body = r.record.body as { logHash?: string, codeHash?: string }
      for (const hash of [body.logHash, body.codeHash]) {
        if (hash === undefined || hash === bait.codeHash) continue
        const bytes = await attacker.network.blobs.get(parseBlobHash(hash), { signal: AbortSignal.timeout(20_000) })
        blobs++
        assert.ok(!Buffer.from(bytes).toString('utf8').includes(canary), `blob ${hash} from the honest daemon holds the canary`)
      }
    }
    assert.ok(blobs >= 1, 'the verification\'s report was fetched')
    const report = JSON.parse(Buffer.from(await attacker.network.blobs.get(parseBlobHash((published[0]!.record.body as { logHash: string }).logHash))).toString('utf8')) as { kind: string, steps: number }
    assert.equal(report.kind, 'swarmd verification report')
    assert.equal(report.steps, STEPS)
  })
})
