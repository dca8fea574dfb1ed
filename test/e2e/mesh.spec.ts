import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DaemonProcess, cleanupDaemons, describeRun, eventually } from '../helpers/daemon-process.js'

describe('e2e: a mesh of three daemons', { timeout: 120_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('joins through one bootstrap address and replicates a hypothesis added with the CLI', async () => {
    const a = await DaemonProcess.start({ name: 'A' })
    const [b, c] = await Promise.all([
      DaemonProcess.start({ name: 'B', bootstrap: [a.addr] }),
      DaemonProcess.start({ name: 'C', bootstrap: [a.addr] })
    ])
    const daemons = [a, b, c]
    const peerView = async (): Promise<Record<string, string[]>> =>
      Object.fromEntries(await Promise.all(daemons.map(async (d) => [d.name, [...await d.connectedPeers()]])))

    // B and C only know A's address: they must find each other through the swarm.
    await eventually(async () => {
      for (const d of daemons) {
        const peers = await d.connectedPeers()
        for (const other of daemons) if (other !== d && !peers.has(other.peerId)) return false
      }
      return true
    }, 'every daemon to be connected to the other two', {
      diagnose: async () => ({ ids: Object.fromEntries(daemons.map((d) => [d.name, d.peerId])), peers: await peerView() })
    })

    const run = await b.cli(['hypothesis', 'add', 'mesh: try RoPE', '--text', 'rotary positions beat learned ones', '--json'])
    assert.equal(run.code, 0, describeRun(run))
    const added = JSON.parse(run.stdout) as { id: string, title: string, author: string }
    assert.equal(added.title, 'mesh: try RoPE')
    assert.equal(added.author, b.peerId)

    for (const d of [a, c]) {
      await eventually(async () => (await d.hypothesisIds()).includes(added.id), `the hypothesis to reach ${d.name}`, {
        diagnose: async () => ({ [d.name]: await d.api('/api/status'), log: d.output })
      })
      const { hypotheses } = await d.api<{ hypotheses: Array<{ id: string, title: string, text: string, author: string }> }>('/api/hypotheses')
      assert.deepEqual(hypotheses.map(({ id, title, text, author }) => ({ id, title, text, author })), [
        { id: added.id, title: 'mesh: try RoPE', text: 'rotary positions beat learned ones', author: b.peerId }
      ], `${d.name} holds exactly the one hypothesis, unaltered`)
    }
  })
})
