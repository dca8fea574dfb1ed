/**
 * What one newcomer's sync request costs the daemon that answers it, against the number of Yjs
 * clients (sessions) in the swarm's doc: the request every newcomer sends first holds an empty
 * state vector and asks for everything, one update per client.
 *
 * Fills an in-memory SwarmState with `--clients` one-binding sessions (what an attacker made 6,000
 * of), then times, on the same doc: the answer as encoded now (`diffsFor`: each client's structs
 * written directly), the answer as it was encoded before (one `Y.encodeStateAsUpdate` per client
 * against a target state vector: each call walks every client), and the request a puller sends
 * (state vector plus per-client fingerprints). The old encoding is timed on `--old-clients` at
 * most (it grows with the square of the clients).
 */
import * as Y from 'yjs'
import { makeReplica } from '../test/helpers/replica.js'
import { craftUpdate, signBinding } from '../test/helpers/forge.js'
import { generateIdentity } from '../src/p2p/identity.js'
import { fmtBytes, fmtMs, machineLine, parseFlags, progress } from './harness.js'
import type { SwarmState } from '../src/state/swarm-state.js'

const flags = parseFlags('bench:sync-cost', 'CPU time of one full sync answer against the number of clients in the doc', {
  clients: { default: 6_000, help: 'one-binding sessions in the doc' },
  'old-clients': { default: 2_000, help: 'clients the old, quadratic encoding is timed on' }
})

/** The answer as it was encoded before issue 12: one encodeStateAsUpdate per client. */
function oldDiffs (state: SwarmState): Uint8Array[] {
  const local = Y.decodeStateVector(Y.encodeStateVector(state.doc))
  const diffs: Uint8Array[] = []
  for (const [client] of local) {
    const target = new Map(local)
    target.set(client, 0)
    diffs.push(Y.encodeStateAsUpdate(state.doc, Y.encodeStateVector(target)))
  }
  return diffs
}

function timed<T> (run: () => T): { ms: number, value: T } {
  const started = performance.now()
  const value = run()
  return { ms: performance.now() - started, value }
}

const author = await generateIdentity()
const replica = await makeReplica({ seed: 1 })
const empty = Y.encodeStateVector(new Y.Doc())
console.log(`# bench:sync-cost — ${machineLine()}`)
console.log('clients | answer now: ms, bytes | answer before: ms | request: ms (first, cached), bytes')
let filled = 0
for (const clients of [1_000, 2_000, flags.clients].filter((n, i, all) => n <= flags.clients && all.indexOf(n) === i)) {
  const updates: Uint8Array[] = []
  for (; filled < clients; filled++) {
    const binding = await signBinding(author, filled, replica.clock.now())
    updates.push(craftUpdate(binding.record.slot.client, [{ map: 'bindings', key: binding.key, value: binding.text }]))
  }
  progress(`applying ${updates.length} sessions (${clients} in all)`)
  if (updates.length > 0) {
    const outcome = await replica.state.applyRemote(Y.mergeUpdates(updates))
    if (outcome.verdict !== 'accept') throw new Error(`filler refused: ${outcome.fault ?? ''}`)
  }
  const now = timed(() => [...replica.state.diffsFor(empty)])
  const bytes = now.value.reduce((sum, d) => sum + d.byteLength, 0)
  const before = clients <= flags['old-clients'] ? timed(() => oldDiffs(replica.state)) : undefined
  if (before !== undefined && before.value.reduce((sum, d) => sum + d.byteLength, 0) !== bytes) throw new Error('old and new answers differ in size')
  const request = timed(() => replica.state.encodeStateVector())
  const cached = timed(() => replica.state.encodeStateVector())
  console.log(`${clients} | ${fmtMs(now.ms)}, ${fmtBytes(bytes)} | ${before === undefined ? '- (not run)' : fmtMs(before.ms)} | ${fmtMs(request.ms)}, ${fmtMs(cached.ms)}, ${fmtBytes(request.value.byteLength)}`)
}
await replica.state.stop()
