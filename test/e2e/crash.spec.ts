import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DaemonProcess, cleanupDaemons, describeRun, eventually } from '../helpers/daemon-process.js'

/** Concurrent writers: enough that several POSTs are in flight at the moment of the kill. */
const WRITERS = 4
/** Acknowledged records to wait for before the kill: the kill lands mid-stream, not at start-up. */
const ACKED_BEFORE_KILL = 40

describe('e2e: kill -9 while a client writes', { timeout: 120_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('keeps every record it acknowledged with 201', async () => {
    // Hypotheses are the records written here: lift the hourly allowance, and give each a distinct number so none repeats another.
    const daemon = await DaemonProcess.start({ name: 'victim', config: { hypothesesPerHour: 100_000 } })
    const acked = new Set<string>()
    let inFlight = 0
    let inFlightAtKill = -1
    let failures = 0
    let stop = false

    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        inFlight++
        try {
          const res = await daemon.post<{ hypothesis?: { id: string } }>('/api/hypotheses', { title: `record ${w * 1_000_000 + i}`, text: 'x'.repeat(200) })
          // Only a 201 is a promise that the record is on disk.
          if (res.status === 201 && res.body.hypothesis !== undefined) acked.add(res.body.hypothesis.id)
          else throw new Error(`unexpected ${res.status} ${JSON.stringify(res.body)}`)
        } catch {
          // The daemon died under us: connection refused or reset. Not acknowledged, not counted.
          failures++
          stop = true
        } finally {
          inFlight--
        }
      }
    }
    const writers = Array.from({ length: WRITERS }, async (_, w) => writer(w))

    await eventually(() => acked.size >= ACKED_BEFORE_KILL || stop, `${ACKED_BEFORE_KILL} acknowledged writes`, { diagnose: () => daemon.output })
    assert.equal(stop, false, `a write failed before the kill\n${daemon.output}`)
    inFlightAtKill = inFlight
    await daemon.kill()
    await Promise.all(writers)
    const ackedAtKill = new Set(acked)

    assert.ok(inFlightAtKill > 0, 'the kill must land while POSTs are in flight')
    assert.ok(failures > 0, 'writers must have seen the daemon die')
    assert.ok(ackedAtKill.size >= ACKED_BEFORE_KILL)

    // The killed daemon left its daemon.json behind; the CLI must still say it is not running.
    const status = await daemon.cli(['status'])
    assert.equal(status.code, 4, describeRun(status))
    assert.match(status.stderr, /swarmd start/)

    await daemon.restart()
    const held = new Set(await daemon.hypothesisIds())
    const lost = [...ackedAtKill].filter((id) => !held.has(id))
    assert.deepEqual(lost, [], `${lost.length} of ${ackedAtKill.size} acknowledged records were lost in the crash`)
    // In-flight writes may or may not have landed; nothing else may appear.
    assert.ok(held.size <= ackedAtKill.size + inFlightAtKill, `${held.size} records after restart, ${ackedAtKill.size} acked + ${inFlightAtKill} in flight`)

    // The restarted daemon is usable: it takes new writes on the recovered state.
    const next = await daemon.addHypothesis('after the crash')
    assert.ok((await daemon.hypothesisIds()).includes(next))
  })
})
