import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DaemonProcess, cleanupDaemons, eventually } from '../helpers/daemon-process.js'
import { requirePython } from '../helpers/python.js'
import type { ClaimJson } from '../../src/http/api-contract.js'

const claims = async (d: DaemonProcess): Promise<ClaimJson[]> => (await d.api<{ claims: ClaimJson[] }>('/api/claims')).claims

describe('e2e: a daemon killed during a run, started again', { timeout: 180_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('releases the claim of the interrupted run at once, and its peer sees it released long before the ttl', async () => {
    const python = await requirePython()
    // A long run (300 steps), so the kill lands while its claim is held.
    const a = await DaemonProcess.start({ name: 'A', args: ['--agent', 'builtin', '--python', python, '--max-steps', '300'] })
    const b = await DaemonProcess.start({ name: 'B', bootstrap: [a.addr], args: ['--agent', 'none'] })
    let held: ClaimJson | undefined
    await eventually(async () => {
      held = (await claims(b)).find((c) => c.author === a.peerId && c.status === 'active')
      return held !== undefined
    }, 'a claim of A\'s run, active on B', { timeoutMs: 120_000, diagnose: () => a.output })
    await a.kill()
    const claim = held!
    assert.ok(claim.expiresAt - Date.now() > 60_000, `the ttl alone would hold it ${claim.expiresAt - Date.now()} ms more`)

    // Started again with no agent: nothing of this run may take the place of the old one.
    const restartedAt = Date.now()
    await a.restart({ bootstrap: [b.addr], args: ['--agent', 'none'] })
    for (const d of [a, b]) {
      await eventually(async () => (await claims(d)).find((c) => c.id === claim.id)?.status === 'released', `the interrupted claim released on ${d.name}`, { timeoutMs: 20_000, diagnose: async () => (await claims(d)).filter((c) => c.id === claim.id) })
    }
    assert.ok(Date.now() - restartedAt < 30_000)
    assert.match(a.output, /released 1 claim\(s\) of runs the last stop interrupted/)

    // A journal that is not JSON does not keep the daemon from starting (its claims would expire by ttl).
    await a.stop()
    await writeFile(join(a.dataDir, 'own-claims.json'), 'not json')
    await a.restart({ bootstrap: [b.addr], args: ['--agent', 'none'] })
    assert.ok(a.running)
  })
})
