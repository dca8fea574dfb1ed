import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { ResearchLedger } from '../../src/claims/research-ledger.js'
import { SemanticDedup } from '../../src/claims/semantic.js'
import { SemanticWarmer } from '../../src/claims/semantic-warmer.js'
import { createHashingEmbedder } from '../../src/embedding/hashing-embedder.js'
import { ManualClock } from '../../src/util/clock.js'
import { sha256Hex } from '../../src/util/hash.js'
import { makeReplica } from '../helpers/replica.js'
import type { Embedder } from '../../src/embedding/embedder.js'
import type { ClaimBody, ResultBody } from '../../src/state/record-kinds.js'
import type { Replica } from '../helpers/replica.js'

const HARNESS = 'harness-1'
const TTL = 60_000

/** The hashing embedder, counting every text it is asked to embed. */
function countingEmbedder (): Embedder & { texts: string[] } {
  const inner = createHashingEmbedder()
  const texts: string[] = []
  return { dimensions: inner.dimensions, texts, embed: async (batch, options) => { texts.push(...batch); return inner.embed(batch, options) } }
}

const claimBody = (description: string, parent: string | null): ClaimBody => ({ description, parent, codeHash: sha256Hex(description), delta: [], tier: 'cpu', ttlMs: TTL })
const resultBody = (claimId: string, description: string, parent: string | null): ResultBody => ({
  claimId, parent, codeHash: sha256Hex(description), logHash: sha256Hex('log'), description, delta: [], status: 'discard', metrics: null, crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: HARNESS
})

/** `count` experiments on `parent`, each a claim and its result. */
async function experiments (replica: Replica, clock: ManualClock, parent: string | null, words: string, count: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const description = `${words} number ${i}`
    const claim = await replica.state.append('claim', claimBody(description, parent))
    ids.push((await replica.state.append('result', resultBody(claim.id, description, parent))).id)
    clock.advance(1_000)
  }
  return ids
}

describe('SemanticWarmer: claim checks find their parent embedded ahead', () => {
  it('at start embeds the live entries of the most recently active parents, newest first, within its budget; a check there then embeds only the candidate', async () => {
    const clock = new ManualClock()
    const replica = await makeReplica({ clock, seed: 1 })
    const ledger = new ResearchLedger(replica.state, HARNESS)
    const [old] = await experiments(replica, clock, null, 'change the old thing', 1)
    await experiments(replica, clock, old!, 'stale parent idea', 30)
    const [recent] = await experiments(replica, clock, null, 'the newer root idea', 1)
    await experiments(replica, clock, recent!, 'busy parent idea', 40)
    // An expired claim blocks nothing, so no check compares with it: not worth embedding.
    await replica.state.append('claim', claimBody('an abandoned idea on the busy parent', recent!))
    clock.advance(2 * TTL)

    const embedder = countingEmbedder()
    const semantic = new SemanticDedup(embedder)
    const warmer = new SemanticWarmer(ledger, semantic, clock, { startTexts: 45, batch: 8 })
    warmer.start()
    await warmer.idle()
    warmer.stop()
    const busy = embedder.texts.filter((t) => t.startsWith('busy parent idea'))
    assert.equal(busy.length, 40, 'every result on the most recently active parent first')
    assert.equal(embedder.texts.length, 45, 'then what the budget leaves, and no more')
    assert.ok(!embedder.texts.some((t) => t.includes('abandoned')), 'an expired claim is left out')

    const book = new ClaimBook({ state: replica.state, ledger, clock, semantic }, { settleMs: 0 })
    embedder.texts.length = 0
    assert.equal(await book.findDuplicate({ description: 'a brand new idea for the busy parent', parent: recent!, codeHash: null, delta: [] }), undefined)
    assert.deepEqual(embedder.texts, ['a brand new idea for the busy parent'], 'the check embedded nothing but its own candidate')
    ledger.close()
  })

  it('follows claims and results as they arrive, each description once', async () => {
    const clock = new ManualClock()
    const replica = await makeReplica({ clock, seed: 2 })
    const ledger = new ResearchLedger(replica.state, HARNESS)
    const embedder = countingEmbedder()
    const warmer = new SemanticWarmer(ledger, new SemanticDedup(embedder), clock, { followEveryMs: 20 })
    warmer.start()
    await experiments(replica, clock, null, 'arriving idea', 5)
    const deadline = Date.now() + 5_000
    while (embedder.texts.length < 5 && Date.now() < deadline) await sleep(20)
    await warmer.idle()
    warmer.stop()
    // A claim and its result share a description: embedded once.
    assert.deepEqual([...embedder.texts].sort(), Array.from({ length: 5 }, (_, i) => `arriving idea number ${i}`))
    ledger.close()
  })

  it('a model that fails to load stops the warming and says so once; checks go on without it', async () => {
    const clock = new ManualClock()
    const replica = await makeReplica({ clock, seed: 3 })
    const ledger = new ResearchLedger(replica.state, HARNESS)
    await experiments(replica, clock, null, 'some idea', 70)
    let calls = 0
    const broken: Embedder = { dimensions: 384, embed: async () => { calls++; throw new Error('model missing') } }
    const errors: unknown[] = []
    const warmer = new SemanticWarmer(ledger, new SemanticDedup(broken), clock, { batch: 8 }, (err) => { errors.push(err) })
    warmer.start()
    await warmer.idle()
    warmer.stop()
    assert.equal(calls, 1, 'no further batch after the first failure')
    assert.equal(errors.length, 1)
    ledger.close()
  })
})
