import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DaemonProcess, cleanupDaemons, describeRun, eventually } from '../helpers/daemon-process.js'

const sorted = (ids: Iterable<string>): string[] => [...ids].sort()

describe('e2e: a daemon cut off from the swarm', { timeout: 180_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('catches up in both directions after it reconnects: nothing lost, nothing duplicated', async () => {
    // Anti-entropy far beyond the test's deadlines: the catch-up must come from the
    // sync every new connection runs, not from the periodic repair.
    const config = { antiEntropyMs: 600_000 }
    const a = await DaemonProcess.start({ name: 'A', config })
    const [b, c] = await Promise.all([
      DaemonProcess.start({ name: 'B', bootstrap: [a.addr], config }),
      DaemonProcess.start({ name: 'C', bootstrap: [a.addr], config })
    ])
    const daemons = [a, b, c]
    const written = new Set<string>()
    const snapshot = async (): Promise<Record<string, unknown>> => Object.fromEntries(await Promise.all(daemons.filter((d) => d.running).map(async (d) => {
      const status = await d.api<{ peers: Array<{ peerId: string }>, counts: Record<string, number>, sync: unknown }>('/api/status')
      return [d.name, { peerId: d.peerId, peers: status.peers.map((p) => p.peerId), counts: status.counts, sync: status.sync, hypotheses: (await d.hypothesisIds()).length }]
    })))
    const allHave = async (group: DaemonProcess[], ids: Set<string>): Promise<boolean> => {
      for (const d of group) {
        const held = new Set(await d.hypothesisIds())
        for (const id of ids) if (!held.has(id)) return false
      }
      return true
    }

    // Each record gets its own number: hypotheses that say the same thing are refused as duplicates.
    let serial = 0
    const numbered = (what: string): string => `${what}, record ${++serial}`
    // Before the cut: one record from each, seen by all.
    for (const d of daemons) written.add(await d.addHypothesis(numbered(`before the cut, from ${d.name}`)))
    await eventually(async () => allHave(daemons, written), 'the first records everywhere', { diagnose: snapshot })

    await c.stop()

    // The majority side keeps writing while C is away.
    for (let i = 0; i < 5; i++) {
      written.add(await a.addHypothesis(numbered('while C is away, from A')))
      written.add(await b.addHypothesis(numbered('while C is away, from B')))
    }
    await eventually(async () => allHave([a, b], written), 'A and B to share the records written while C was away', { diagnose: snapshot })

    // C comes back alone (no bootstrap, fresh port): a partition, not a reconnect.
    await c.restart({ name: 'C' })
    const cAlone = new Set<string>()
    for (let i = 0; i < 5; i++) cAlone.add(await c.addHypothesis(numbered('while partitioned, from C')))
    assert.deepEqual([...await c.connectedPeers()], [], 'C must really be partitioned for this test to mean anything')
    for (const d of [a, b]) {
      const held = new Set(await d.hypothesisIds())
      assert.ok([...cAlone].every((id) => !held.has(id)), `${d.name} cannot have C's partitioned records before the heal`)
    }
    assert.equal((await c.hypothesisIds()).length, 3 + cAlone.size, 'C kept its own records across the restart and has none of the others yet')
    for (const id of cAlone) written.add(id)

    // Heal: C dials A with the CLI.
    const run = await c.cli(['connect', a.addr])
    assert.equal(run.code, 0, describeRun(run))

    await eventually(async () => allHave(daemons, written), 'every record on every daemon after the heal', { diagnose: snapshot })

    const expected = sorted(written)
    assert.equal(expected.length, 3 + 10 + 5)
    for (const d of daemons) {
      const ids = await d.hypothesisIds()
      assert.deepEqual(sorted(ids), expected, `${d.name} holds exactly the written records, each once`)
      const { counts } = await d.api<{ counts: { hypothesis: number } }>('/api/status')
      assert.equal(counts.hypothesis, expected.length, `${d.name}'s record count`)
    }
  })
})
