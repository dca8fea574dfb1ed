/**
 * The standing chain of issue 13 against one in-process daemon: two roots this daemon reproduced,
 * then N fresh identities (default 1,500), each result vouched by the two before it. Prints how
 * many gained standing, the first GET /api/best (catching up), and what each later record costs.
 *   npm run build && node dist/bench/trust-chain.js [--length 1500] [--records 20]
 */
import '../src/util/polyfill.js'
import { parseArgs } from 'node:util'
import { startInProcessDaemon, stopAndRemove } from '../test/helpers/in-process-daemon.js'
import { buildChain, chainPeer, deliver, writeResult, writeVerification } from '../test/helpers/standing-chain.js'

const { values } = parseArgs({ options: { length: { type: 'string', default: '1500' }, records: { type: 'string', default: '20' } } })
const length = Number(values.length)
const records = Number(values.records)
const d = await startInProcessDaemon({ swarm: 'bench-trust-chain', antiEntropyMs: 10 * 60_000 })
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const get = async (): Promise<number> => {
  const at = performance.now()
  await (await fetch(new URL('/api/best', d.apiUrl))).json()
  return performance.now() - at
}
try {
  let at = performance.now()
  const { chain } = await buildChain(d, length)
  console.log(`chain of ${length}: written and applied in ${((performance.now() - at) / 1000).toFixed(1)} s`)
  at = performance.now()
  d.trust.status('')
  console.log(`trust catching up on ${length} results and ${2 * length} verifications: ${(performance.now() - at).toFixed(1)} ms`)
  console.log(`first GET /api/best (duplicate marks catching up): ${(await get()).toFixed(0)} ms`)
  console.log(`chain identities with standing: ${chain.filter((p) => d.trust.hasStanding(p.peerId)).length}; chain results trusted: ${d.claims.ledger.allResults().filter((r) => chain.some((p) => p.peerId === r.author) && d.trust.isTrusted(r.id)).length}`)
  const trust: number[] = []
  const marks: number[] = []
  const gets: number[] = []
  for (let i = 0; i < records; i++) {
    const p = await chainPeer()
    const id = await writeResult(d, p, 2.1, `a newcomer's run ${i} on top of the chain`)
    await writeVerification(d, chain[length - 1 - i]!, id, 2.1)
    await deliver(d, [p, chain[length - 1 - i]!])
    at = performance.now()
    d.trust.status(id)
    trust.push(performance.now() - at)
    at = performance.now()
    await d.claims.duplicateResults()
    marks.push(performance.now() - at)
    gets.push(await get())
  }
  console.log(`per new record: trust median ${median(trust).toFixed(2)} ms (max ${Math.max(...trust).toFixed(2)}); duplicate marks median ${median(marks).toFixed(1)} ms (max ${Math.max(...marks).toFixed(1)}); GET /api/best median ${median(gets).toFixed(1)} ms (max ${Math.max(...gets).toFixed(1)})`)
} finally {
  await stopAndRemove(d)
}
