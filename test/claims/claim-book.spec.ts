import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { ResearchLedger, DEFAULT_MAX_ACTIVE_CLAIMS, precedes } from '../../src/claims/research-ledger.js'
import { createHashingEmbedder } from '../../src/embedding/hashing-embedder.js'
import { createMiniLmEmbedder } from '../../src/embedding/minilm-onnx.js'
import { SemanticDedup } from '../../src/claims/semantic.js'
import { ManualClock } from '../../src/util/clock.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { sha256Hex } from '../../src/util/hash.js'
import { seededRng } from '../../src/util/rng.js'
import { makeReplica } from '../helpers/replica.js'
import { fixedSimilarityEmbedder } from '../helpers/fixed-embedder.js'
import type { ClaimCandidate, ClaimRequest, DedupLayer } from '../../src/claims/claim-book.js'
import type { ClaimEntry, ResearchLedgerOptions, ClaimStatus } from '../../src/claims/research-ledger.js'
import type { MiniLmEmbedder } from '../../src/embedding/minilm-onnx.js'
import type { CodeChange } from '../../src/source/code-change.js'
import type { DeltaEntry, ResultBody } from '../../src/state/record-kinds.js'
import type { StoredRecord } from '../../src/state/records.js'
import type { SwarmdErrorCode } from '../../src/util/errors.js'
import type { Replica } from '../helpers/replica.js'

const HARNESS = 'harness-1'
const TTL = 60_000
const DEFAULT_TRAIN_PY = code('the harness default train.py')
const PARENT = code('parent result')

function code (text: string): string { return sha256Hex(text) }

const lr = (to: number): DeltaEntry[] => [{ name: 'LEARNING_RATE', from: 0.04, to }]
/** What QK-norm's code adds, however an agent writes it (src/source/code-change.ts). */
const QK_NORM: CodeChange = { added: ['-', '-', '.rms_norm', '.rms_norm', '.size', '.size', '1', '1', 'k', 'k', 'k', 'q', 'q', 'q'], removed: [] }
const SILU: CodeChange = { added: ['.SiLU'], removed: ['.GELU'] }
const NO_CODE: CodeChange = { added: [], removed: [] }

/** One swarm node as the claims core sees it: a replica, its ledger and its claim book. */
interface Node {
  name: string
  replica: Replica
  ledger: ResearchLedger
  book: ClaimBook
  /** Every update this node wrote, in order: what it gossiped. */
  sent: Uint8Array[]
}

interface NodeOptions {
  seed: number
  clock: ManualClock
  /** Default: the hashing embedder (fast). null: no semantic layer. */
  semantic?: SemanticDedup | null
  settleMs?: number
  referenceCodeHashes?: ReadonlySet<string>
  ledger?: ResearchLedgerOptions
  raceYieldsPerHour?: number
}

const hashingSemantic = (): SemanticDedup => new SemanticDedup(createHashingEmbedder())

async function makeNode (name: string, opts: NodeOptions): Promise<Node> {
  const replica = await makeReplica({ clock: opts.clock, seed: opts.seed })
  // The ledger sees records arrive on the test's clock: the lag rule is on, as in a daemon.
  const ledger = new ResearchLedger(replica.state, HARNESS, { clock: opts.clock, ...opts.ledger })
  const semantic = opts.semantic === undefined ? hashingSemantic() : opts.semantic
  const book = new ClaimBook(
    { state: replica.state, ledger, clock: opts.clock, ...(semantic !== null ? { semantic } : {}), onSemanticError: (err) => { throw err } },
    { settleMs: opts.settleMs ?? 0, ...(opts.referenceCodeHashes !== undefined ? { referenceCodeHashes: opts.referenceCodeHashes } : {}), ...(opts.raceYieldsPerHour !== undefined ? { raceYieldsPerHour: opts.raceYieldsPerHour } : {}) }
  )
  const sent: Uint8Array[] = []
  replica.state.on('local-update', (update) => { sent.push(update) })
  return { name, replica, ledger, book, sent }
}

/**
 * Gossip between in-memory nodes, delivered only when a test says so: each link carries a
 * sender's updates in the order it wrote them; which sender's updates reach a node first is
 * up to the test (delivery order), and an undelivered link is a partition.
 */
class Mesh {
  private readonly delivered = new Map<string, number>()
  constructor (readonly nodes: Node[]) {}

  async deliver (from: Node, to: Node): Promise<void> {
    const link = `${from.name}->${to.name}`
    for (let i = this.delivered.get(link) ?? 0; i < from.sent.length; i++) {
      const outcome = await to.replica.state.applyRemote(from.sent[i]!)
      assert.equal(outcome.verdict, 'accept', `${link}: update ${i} refused: ${outcome.fault ?? ''}`)
      this.delivered.set(link, i + 1)
    }
  }

  /** Everything to everyone (the partition heals). */
  async heal (): Promise<void> {
    for (const from of this.nodes) for (const to of this.nodes) if (from !== to) await this.deliver(from, to)
  }
}

async function nodes (count: number, opts: Omit<NodeOptions, 'seed'> & { seed?: number }): Promise<{ mesh: Mesh, all: Node[] }> {
  const all: Node[] = []
  for (let i = 0; i < count; i++) all.push(await makeNode(String.fromCharCode(65 + i), { ...opts, seed: (opts.seed ?? 1) * 10 + i }))
  return { mesh: new Mesh(all), all }
}

const request = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({
  description: 'raise the learning rate to 0.05',
  codeHash: code('lr 0.05'),
  parent: null,
  delta: [],
  tier: 'cpu',
  ttlMs: TTL,
  ...over
})

const candidate = (over: Partial<ClaimCandidate>): ClaimCandidate => ({ description: 'something unrelated', codeHash: code('unrelated'), parent: null, delta: [], ...over })

async function claimed (node: Node, req: ClaimRequest, settle = true): Promise<ClaimEntry> {
  const outcome = await node.book.claim(req, { settle })
  assert.ok('claimed' in outcome, `${node.name}: expected the claim to stand, got a duplicate of ${JSON.stringify('duplicate' in outcome ? outcome.duplicate : undefined)}`)
  return outcome.claimed
}

async function publishResult (node: Node, claim: ClaimEntry, over: Partial<ResultBody> = {}): Promise<StoredRecord<'result'>> {
  return node.replica.state.append('result', {
    claimId: claim.id,
    parent: claim.body.parent,
    codeHash: claim.body.codeHash ?? code(`code of ${claim.id}`),
    logHash: code(`log of ${claim.id}`),
    description: claim.body.description,
    delta: claim.body.delta,
    ...(claim.body.change !== undefined ? { change: claim.body.change } : {}),
    status: 'keep',
    metrics: null,
    crash: null,
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' },
    harness: HARNESS,
    ...over
  })
}

async function rejectsWith (promise: Promise<unknown>, code: SwarmdErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => isSwarmdError(err, code), `expected ${code}`)
}

/** Every claim's status on every node at `now`: equal maps mean the nodes agree. */
function statuses (all: Node[], now: number): Array<Record<string, ClaimStatus>> {
  return all.map((n) => Object.fromEntries(n.ledger.allClaims().map((c) => [c.body.description + ' ' + c.id.slice(0, 8), n.ledger.status(c, now)])))
}

describe('ClaimBook.findDuplicate: exact, structured and semantic layers', () => {
  it('exact: the same train.py, claimed elsewhere or finished, whatever the words', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const claim = await claimed(a!, request({ codeHash: code('X') }))
    await mesh.heal()
    const probe = candidate({ description: 'a completely different story', codeHash: code('X') })
    const hit = await b!.book.findDuplicate(probe)
    assert.equal(hit?.layer, 'exact')
    assert.equal(hit?.conflict.id, claim.id)
    assert.equal(hit?.conflict.author, a!.replica.state.peerId)
    const result = await publishResult(a!, claim)
    await mesh.heal()
    const afterResult = await b!.book.findDuplicate(probe)
    assert.equal(afterResult?.layer, 'exact')
    assert.equal(afterResult?.conflict.kind, 'result')
    assert.equal(afterResult?.conflict.id, result.id)
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('Y') })), undefined, 'other code, other words: no duplicate')
  })

  it('structured: the same change on the same parent, in any order, with other code and words', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock, semantic: null })
    const delta: DeltaEntry[] = [{ name: 'WIDTH', from: 64, to: 96 }, { name: 'DEPTH', from: 2, to: 3 }]
    const claim = await claimed(a!, request({ description: 'wider and deeper', codeHash: code('wd1'), parent: PARENT, delta }))
    await mesh.heal()
    const hit = await b!.book.findDuplicate(candidate({ description: 'grow the model', codeHash: code('wd2'), parent: PARENT, delta: [...delta].reverse() }))
    assert.equal(hit?.layer, 'structured')
    assert.equal(hit?.conflict.id, claim.id)
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('wd3'), parent: PARENT, delta: [{ name: 'WIDTH', from: 64, to: 128 }, { name: 'DEPTH', from: 2, to: 3 }] })), undefined, 'another value')
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('wd4'), parent: code('another parent'), delta })), undefined, 'another parent')
  })

  it('structured: the same constants with other code beside them are another experiment', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock, semantic: null })
    const plain = await claimed(a!, request({ description: 'raise the learning rate', codeHash: code('lr only'), parent: PARENT, delta: lr(0.05), change: NO_CODE }))
    await mesh.heal()
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('lr and silu'), parent: PARENT, delta: lr(0.05), change: SILU })), undefined, 'the same LR, and SiLU too')
    const sameCode = await b!.book.findDuplicate(candidate({ codeHash: code('lr, other comment'), parent: PARENT, delta: lr(0.05), change: NO_CODE }))
    assert.equal(sameCode?.layer, 'structured')
    assert.equal(sameCode?.conflict.id, plain.id)
    assert.equal((await b!.book.findDuplicate(candidate({ codeHash: null, parent: PARENT, delta: lr(0.05) })))?.layer, 'structured', 'an idea without code: nothing says it differs')
  })

  it('code: the same code change written another way, whatever the words', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock, semantic: null })
    const claim = await claimed(a!, request({ description: 'QK-norm', codeHash: code('qk 1'), parent: PARENT, change: QK_NORM }))
    await mesh.heal()
    const hit = await b!.book.findDuplicate(candidate({ description: 'stabilise attention logits', codeHash: code('qk 2'), parent: PARENT, change: { ...QK_NORM } }))
    assert.equal(hit?.layer, 'code')
    assert.equal(hit?.conflict.id, claim.id)
    assert.equal(hit?.score, 1)
    const nearly = { added: [...QK_NORM.added, '<new>'], removed: [] }
    assert.equal((await b!.book.findDuplicate(candidate({ codeHash: code('qk 3'), parent: PARENT, change: nearly })))?.layer, 'code', 'one invented name more')
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('silu'), parent: PARENT, change: SILU })), undefined, 'another change')
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('qk lr'), parent: PARENT, change: QK_NORM, delta: lr(0.05) })), undefined, 'the same code with another constant change')
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('qk root'), parent: null, change: QK_NORM })), undefined, 'another parent')
    assert.equal(await b!.book.findDuplicate(candidate({ codeHash: code('qk 4'), parent: PARENT, change: QK_NORM }), { layers: ['exact', 'structured', 'semantic'] }), undefined, 'only the code layer sees it')
  })

  it('semantic: the same idea in other words (abbreviations expanded), with its score', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const claim = await claimed(a!, request({ description: 'use rotary position embeddings in attention', codeHash: code('rope 1') }))
    await mesh.heal()
    const hit = await b!.book.findDuplicate(candidate({ description: 'use RoPE in attention', codeHash: code('rope 2') }))
    assert.equal(hit?.layer, 'semantic')
    assert.equal(hit?.conflict.id, claim.id)
    assert.equal(hit?.conflict.author, a!.replica.state.peerId)
    assert.ok(hit.score !== undefined && hit.score >= 0.7, `score ${hit.score ?? 'none'}`)
    assert.equal(await b!.book.findDuplicate(candidate({ description: 'use RoPE in attention', codeHash: code('rope 2') }), { layers: ['exact', 'structured'] }), undefined, 'only the semantic layer sees it')
    assert.equal(await b!.book.findDuplicate(candidate({ description: 'use RoPE in attention', codeHash: code('rope 3'), parent: PARENT })), undefined, 'on another baseline it is another experiment')
  })

  it('semantic misses: another target value, the opposite direction, another concrete change', async () => {
    const clock = new ManualClock()
    const semantic = hashingSemantic()
    const { mesh, all: [a, b] } = await nodes(2, { clock, semantic })
    await claimed(a!, request({ description: 'LR 0.04 -> 0.06', codeHash: code('lr 0.06') }))
    await claimed(a!, request({ description: 'double the batch size', codeHash: code('bs x2') }))
    await claimed(a!, request({ description: 'tune the learning rate', codeHash: code('tune 0.05'), delta: lr(0.05) }))
    await mesh.heal()
    for (const [mine, theirs, guard] of [['LR 0.04 -> 0.08', 'LR 0.04 -> 0.06', 'numbers'], ['halve the batch size', 'double the batch size', 'direction']] as const) {
      // The words alone are close enough to merge: only the guard keeps them apart.
      const verdict = await semantic.compare(mine, theirs)
      assert.ok(verdict.score >= 0.7, `${mine} | ${theirs}: ${verdict.score}`)
      assert.equal(verdict.guard, guard)
      assert.equal(await b!.book.findDuplicate(candidate({ description: mine, codeHash: code(mine) })), undefined, mine)
    }
    // Identical words, different concrete changes: two experiments.
    assert.equal(await b!.book.findDuplicate(candidate({ description: 'tune the learning rate', codeHash: code('tune 0.08'), delta: lr(0.08) })), undefined)
    // Without a concrete change to tell them apart, the words decide.
    assert.equal((await b!.book.findDuplicate(candidate({ description: 'tune the learning rate', codeHash: code('tune ?') })))?.layer, 'semantic')
  })

  it('description-only claims (no code yet) are found by the structured and semantic layers, never by exact', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const idea = await claimed(a!, request({ description: 'raise the learning rate to 0.05', codeHash: null, delta: lr(0.05) }))
    const words = await claimed(a!, request({ description: 'add dropout 0.1 to attention', codeHash: null, delta: [] }))
    await mesh.heal()
    const structured = await b!.book.findDuplicate(candidate({ description: 'other words', codeHash: null, delta: lr(0.05) }))
    assert.equal(structured?.layer, 'structured')
    assert.equal(structured?.conflict.id, idea.id)
    const semantic = await b!.book.findDuplicate(candidate({ description: 'add dropout 0.1 to the attention', codeHash: code('dropout') }))
    assert.equal(semantic?.layer, 'semantic')
    assert.equal(semantic?.conflict.id, words.id)
    // Two ideas without code never match on a missing hash.
    assert.equal(await b!.book.findDuplicate(candidate({ description: 'train with a longer context', codeHash: null })), undefined)
  })

  it('reference runs of the default train.py are never semantic duplicates', async () => {
    const clock = new ManualClock()
    const references = new Set([DEFAULT_TRAIN_PY])
    const { mesh, all: [a, b] } = await nodes(2, { clock, referenceCodeHashes: references })
    const reference = await a!.book.append(request({ description: 'baseline: the harness default train.py', codeHash: DEFAULT_TRAIN_PY }))
    await publishResult(a!, reference)
    await mesh.heal()
    const probe = candidate({ description: 'baseline: the harness default train.py with a longer warmup', codeHash: code('longer warmup') })
    assert.equal(await b!.book.findDuplicate(probe), undefined)
    // The same ledger without the reference set would call it a duplicate: the exemption is what decides.
    const naive = new ClaimBook({ state: b!.replica.state, ledger: b!.ledger, clock, semantic: hashingSemantic() }, { settleMs: 0 })
    assert.equal((await naive.findDuplicate(probe))?.layer, 'semantic')
    // Running the default code itself again is still an exact duplicate.
    assert.equal((await b!.book.findDuplicate(candidate({ codeHash: DEFAULT_TRAIN_PY })))?.layer, 'exact')
  })
})

describe('the semantic grey band: the agent judges', () => {
  // Cosines to "switch the optimizer to lion": 0.65 is too close to call, 0.9 is the same idea.
  const ANCHOR = 'switch the optimizer to lion'
  const GREY = 'try the lion optimizer'
  const SURE = 'use lion as optimizer'
  const semantic = (): SemanticDedup => new SemanticDedup(fixedSimilarityEmbedder(ANCHOR, { [GREY]: 0.65, [SURE]: 0.9 }))

  it('answers a grey-band pair as uncertain, with the candidate; claims once the agent says it is distinct; a clear duplicate stays refused', async () => {
    const clock = new ManualClock()
    const { all: [a] } = await nodes(1, { clock, semantic: semantic() })
    const first = await claimed(a!, request({ description: ANCHOR, codeHash: null }))
    const asked = await a!.book.claimJudged(request({ description: GREY, codeHash: null }), new Set())
    assert.ok('uncertain' in asked, JSON.stringify(asked))
    assert.deepEqual(asked.uncertain.map((h) => [h.layer, h.conflict.id, Number(h.score?.toFixed(2))]), [['semantic', first.id, 0.65]])
    const judged = await a!.book.claimJudged(request({ description: GREY, codeHash: null }), new Set([first.id]))
    assert.ok('claimed' in judged, JSON.stringify(judged))
    const sure = await a!.book.claimJudged(request({ description: SURE, codeHash: null }), new Set([first.id]))
    assert.ok('duplicate' in sure, 'above the band, "distinct from" does not override the rule')
    assert.equal(sure.duplicate.layer, 'semantic')
  })

  it('a caller that does not judge (the research loop, the settle check) gets the rule\'s decision, as before', async () => {
    const clock = new ManualClock()
    const { all: [a] } = await nodes(1, { clock, semantic: semantic() })
    await claimed(a!, request({ description: ANCHOR, codeHash: null }))
    assert.equal(await a!.book.findDuplicate(candidate({ description: GREY, codeHash: null })), undefined, '0.65 is under the rule\'s 0.7')
    assert.equal((await a!.book.findDuplicate(candidate({ description: SURE, codeHash: null })))?.layer, 'semantic')
  })
})

describe('claim lifecycle with a fake clock', () => {
  it('a claim without heartbeat expires at createdAt + ttl; then another node can claim the experiment', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const t0 = clock.now()
    const first = await claimed(a!, request())
    await mesh.heal()
    clock.set(t0 + TTL - 1)
    const refused = await b!.book.claim(request())
    assert.ok('duplicate' in refused)
    assert.equal(refused.duplicate.conflict.id, first.id)
    assert.equal(b!.replica.state.counts().claim, 1, 'a refused claim is never written')
    clock.set(t0 + TTL)
    const second = await claimed(b!, request())
    await mesh.heal()
    assert.equal(a!.ledger.status(first, clock.now()), 'expired')
    assert.equal(a!.ledger.status(a!.ledger.claim(second.id)!, clock.now()), 'active')
  })

  it('heartbeats keep a claim alive past its ttl', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const t0 = clock.now()
    const claim = await claimed(a!, request())
    clock.set(t0 + TTL / 2)
    await a!.book.heartbeat(claim.id)
    await mesh.heal()
    clock.set(t0 + TTL)
    assert.ok('duplicate' in await b!.book.claim(request()), 'the heartbeat must keep the claim alive')
    clock.set(t0 + TTL / 2 + TTL - 1)
    assert.ok('duplicate' in await b!.book.claim(request()))
    clock.set(t0 + TTL / 2 + TTL)
    await claimed(b!, request())
  })

  it('a heartbeat for an expired claim is refused with CLAIM_CLOSED and does not revive it', async () => {
    const clock = new ManualClock()
    const { all: [a] } = await nodes(1, { clock })
    const t0 = clock.now()
    const claim = await claimed(a!, request())
    clock.set(t0 + TTL)
    await rejectsWith(a!.book.heartbeat(claim.id), 'CLAIM_CLOSED')
    assert.equal(a!.replica.state.counts().heartbeat, 0)
    assert.equal(a!.ledger.status(claim, clock.now()), 'expired')
  })

  it('release makes the experiment claimable at once; a closed claim cannot be heartbeaten or released again', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const claim = await claimed(a!, request())
    await mesh.heal()
    assert.ok('duplicate' in await b!.book.claim(request()))
    await a!.book.release(claim.id)
    await mesh.heal()
    assert.equal(b!.ledger.releaseReason(b!.ledger.claim(claim.id)!), 'aborted')
    const again = await claimed(b!, request())
    await rejectsWith(a!.book.heartbeat(claim.id), 'CLAIM_CLOSED')
    await rejectsWith(a!.book.release(claim.id), 'CLAIM_CLOSED')
    await publishResult(b!, again)
    await rejectsWith(b!.book.heartbeat(again.id), 'CLAIM_CLOSED')
    await rejectsWith(b!.book.release(again.id), 'CLAIM_CLOSED')
  })

  it("only the author's heartbeat, release and result count", async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b, c] } = await nodes(3, { clock })
    const t0 = clock.now()
    const claim = await claimed(a!, request())
    await mesh.heal()
    await rejectsWith(b!.book.heartbeat(claim.id), 'CLAIM_NOT_OWN')
    await rejectsWith(b!.book.release(claim.id), 'CLAIM_NOT_OWN')
    await rejectsWith(b!.book.heartbeat(code('no such claim')), 'CLAIM_NOT_FOUND')
    // B writes the records anyway, bypassing its own book: nobody counts them.
    clock.set(t0 + TTL - 1_000)
    await b!.replica.state.append('heartbeat', { claim: claim.id })
    await b!.replica.state.append('release', { claim: claim.id, reason: 'aborted' })
    await b!.replica.state.append('result', {
      claimId: claim.id, parent: null, codeHash: code('unrelated code'), logHash: code('log'), description: 'an unrelated change', delta: [], status: 'keep', metrics: null, crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: HARNESS
    })
    await mesh.heal()
    for (const node of [a!, b!, c!]) {
      assert.equal(node.ledger.status(node.ledger.claim(claim.id)!, t0 + TTL - 1), 'active', `${node.name}: another author's release or result must not close the claim`)
      assert.equal(node.ledger.status(node.ledger.claim(claim.id)!, t0 + TTL), 'expired', `${node.name}: another author's heartbeat must not extend the claim`)
    }
    assert.ok('duplicate' in await c!.book.claim(request()), 'still claimed by A')
    clock.set(t0 + TTL)
    await claimed(c!, request())
  })

  it('claim() gives its claim back when aborted during the settle window', async () => {
    const clock = new ManualClock()
    const { all: [a] } = await nodes(1, { clock, settleMs: 60_000 })
    const abort = new AbortController()
    a!.replica.state.once('record', () => { abort.abort() })
    await assert.rejects(a!.book.claim(request(), { signal: abort.signal }), { name: 'AbortError' })
    const [claim] = a!.ledger.allClaims()
    assert.equal(a!.ledger.status(claim!, clock.now()), 'released', 'an aborted claim must not block the experiment for a ttl')
    assert.equal(a!.ledger.releaseReason(claim!), 'aborted')
    assert.equal(await a!.book.findDuplicate(request()), undefined)
  })
})

describe('racing claims resolve the same way on every node', () => {
  /** Claims of the same experiment by every node, then delivery in the given order, then every settle. */
  async function race (opts: { count: number, sameInstant: boolean, seed: number, requests?: ClaimRequest[] }): Promise<{ all: Node[], claims: ClaimEntry[], winner: ClaimEntry }> {
    const rng = seededRng(opts.seed)
    const clock = new ManualClock()
    const { mesh, all } = await nodes(opts.count, { clock, seed: opts.seed })
    const claims: ClaimEntry[] = []
    // Claim in a random node order, each unaware of the others (settle comes later).
    const order = shuffle(all.map((_, i) => i), rng)
    for (const i of order) {
      if (!opts.sameInstant) clock.advance(1 + rng.int(50))
      claims[i] = await claimed(all[i]!, opts.requests?.[i] ?? request(), false)
    }
    // Gossip: every link delivered, in a random order per receiver.
    const links = all.flatMap((to) => all.filter((from) => from !== to).map((from) => [from, to] as const))
    for (const [from, to] of shuffle(links, rng)) await mesh.deliver(from, to)
    // Every node runs its settle (in a random order), releases spread, then all links heal.
    const hits = new Map<number, string | undefined>()
    for (const i of shuffle(all.map((_, k) => k), rng)) {
      hits.set(i, (await all[i]!.book.settle(claims[i]!))?.conflict.id)
      if (rng.next() < 0.5) {
        const others = all.filter((n) => n !== all[i])
        await mesh.deliver(all[i]!, others[rng.int(others.length)]!)
      }
    }
    await mesh.heal()
    const winner = [...claims].sort((x, y) => x.createdAt - y.createdAt || (x.author < y.author ? -1 : 1))[0]!
    for (const [i, conflict] of hits) {
      if (claims[i] === winner) assert.equal(conflict, undefined, `seed ${opts.seed}: the earliest claim must not yield`)
      else assert.ok(conflict !== undefined, `seed ${opts.seed}: node ${all[i]!.name} must yield to an earlier claim`)
    }
    const now = clock.now()
    const views = statuses(all, now)
    for (const view of views) assert.deepEqual(view, views[0], `seed ${opts.seed}: nodes disagree on the race`)
    for (const node of all) {
      const active = node.ledger.allClaims().filter((c) => node.ledger.status(c, now) === 'active')
      assert.deepEqual(active.map((c) => c.id), [winner.id], `seed ${opts.seed}: exactly the earliest claim stays active on ${node.name}`)
      for (const c of claims) if (c !== winner) assert.equal(node.ledger.releaseReason(node.ledger.claim(c.id)!), 'yielded')
    }
    return { all, claims, winner }
  }

  it('two nodes, different createdAt, every delivery order: the earlier claim stands', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) await race({ count: 2, sameInstant: false, seed })
  })

  it('two nodes at the same createdAt: the smaller author wins on both', async () => {
    for (const seed of [11, 12, 13, 14]) {
      const { winner, all } = await race({ count: 2, sameInstant: true, seed })
      assert.equal(winner.author, [all[0]!.replica.state.peerId, all[1]!.replica.state.peerId].sort()[0])
    }
  })

  it('three nodes, the same experiment by code, by change and in other words: one claim stays, all agree', async () => {
    // A~B the same change, B~C the same code, A~C the same words: every pair conflicts, each by another layer.
    const requests = [
      request({ description: 'raise the learning rate to 0.05', codeHash: code('lr a'), delta: lr(0.05) }),
      request({ description: 'learning rate sweep, point 3', codeHash: code('lr c'), delta: lr(0.05) }),
      request({ description: 'raise the LR to 0.05', codeHash: code('lr c'), delta: [] })
    ]
    for (const seed of [21, 22, 23, 24, 25, 26]) await race({ count: 3, sameInstant: false, seed, requests })
    for (const seed of [31, 32, 33]) await race({ count: 3, sameInstant: true, seed, requests })
  })

  it('claim() with a real settle window: two nodes claiming at the same instant, exactly one stands', async () => {
    const clock = new ManualClock()
    // A window well above an in-process delivery even on a slow CI machine.
    const { all: [a, b] } = await nodes(2, { clock, settleMs: 250 })
    // Live gossip, but only once both claims are written (neither node saw the other's before its
    // own check): from then on every write reaches the other node as soon as it is made.
    const inFlight: Array<Promise<unknown>> = []
    const held: Array<() => void> = []
    let written = 0
    for (const [from, to] of [[a!, b!], [b!, a!]] as const) {
      from.replica.state.on('local-update', (update) => {
        const send = (): void => { inFlight.push(to.replica.state.applyRemote(update)) }
        if (written < 2) held.push(send)
        else send()
      })
      from.replica.state.on('record', (rec, local) => {
        if (!local || rec.record.kind !== 'claim') return
        if (++written === 2) for (const send of held.splice(0)) send()
      })
    }
    const outcomes = await Promise.all([a!.book.claim(request()), b!.book.claim(request())])
    await Promise.all(inFlight)
    const stood = outcomes.filter((o) => 'claimed' in o)
    assert.equal(stood.length, 1, JSON.stringify(outcomes.map((o) => Object.keys(o))))
    const winner = (stood[0] as { claimed: ClaimEntry }).claimed
    assert.equal(winner.author, [a!.replica.state.peerId, b!.replica.state.peerId].sort()[0])
    const yielded = outcomes.find((o) => 'duplicate' in o) as { duplicate: { conflict: { id: string } } }
    assert.equal(yielded.duplicate.conflict.id, winner.id)
    assert.deepEqual(statuses([a!], clock.now()), statuses([b!], clock.now()))
  })
})

describe('zombie results', () => {
  for (const zombieFirst of [true, false]) {
    it(`a result published after its claim expired is kept; the run whose claim came first is the original (zombie published ${zombieFirst ? 'before' : 'after'} the re-run's result)`, async () => {
      const clock = new ManualClock()
      const { mesh, all: [a, b, c] } = await nodes(3, { clock })
      const t0 = clock.now()
      const stale = await claimed(a!, request())
      await mesh.heal()
      clock.set(t0 + TTL)
      const rerun = await claimed(b!, request())
      await mesh.heal()
      clock.advance(10_000)
      let zombie: StoredRecord<'result'>
      let second: StoredRecord<'result'>
      if (zombieFirst) {
        zombie = await publishResult(a!, stale)
        clock.advance(1_000)
        second = await publishResult(b!, rerun, { logHash: code('log of the re-run') })
      } else {
        second = await publishResult(b!, rerun, { logHash: code('log of the re-run') })
        await mesh.deliver(b!, c!)
        assert.deepEqual([...(await c!.book.duplicateResults()).keys()], [], 'alone, the re-run is nobody\'s duplicate')
        clock.advance(1_000)
        zombie = await publishResult(a!, stale)
      }
      await mesh.heal()
      for (const node of [a!, b!, c!]) {
        assert.deepEqual(new Set(node.ledger.allResults().map((r) => r.id)), new Set([zombie.id, second.id]), `${node.name}: the zombie result is kept`)
        assert.equal(node.ledger.status(stale, clock.now()), 'finished')
        const marks = await node.book.duplicateResults()
        assert.deepEqual([...marks], [[second.id, { of: zombie.id, layer: 'exact' }]], `${node.name}: the re-run (later claim) is the duplicate`)
      }
      // And the experiment stays taken for everyone.
      assert.equal((await c!.book.findDuplicate(request()))?.conflict.kind, 'result')
    })
  }
})

describe('partition: both sides run the experiment; the merge marks the later one', () => {
  const cases: Array<{ layer: DedupLayer, left: Partial<ClaimRequest>, right: Partial<ClaimRequest> }> = [
    { layer: 'exact', left: { description: 'raise the learning rate to 0.05', codeHash: code('same') }, right: { description: 'a different description', codeHash: code('same') } },
    { layer: 'structured', left: { description: 'raise the learning rate', codeHash: code('s1'), parent: PARENT, delta: lr(0.05) }, right: { description: 'lr sweep point', codeHash: code('s2'), parent: PARENT, delta: lr(0.05) } },
    { layer: 'code', left: { description: 'QK-norm', codeHash: code('q1'), parent: PARENT, change: QK_NORM }, right: { description: 'stabilise attention logits', codeHash: code('q2'), parent: PARENT, change: QK_NORM } },
    { layer: 'semantic', left: { description: 'use rotary position embeddings in attention', codeHash: code('r1') }, right: { description: 'use RoPE in attention', codeHash: code('r2') } }
  ]
  for (const { layer, left, right } of cases) {
    it(`${layer}: the later claim's result is marked on both sides`, async () => {
      const clock = new ManualClock()
      const { mesh, all: [a, b] } = await nodes(2, { clock })
      const early = await claimed(a!, request(left))
      clock.advance(1_000)
      const late = await claimed(b!, request(right))
      // The later claim finishes first: publication time does not decide, the claims do.
      clock.advance(3_000)
      const lateResult = await publishResult(b!, late)
      clock.advance(1_000)
      const earlyResult = await publishResult(a!, early)
      for (const node of [a!, b!]) assert.equal((await node.book.duplicateResults()).size, 0)
      await mesh.heal()
      for (const node of [a!, b!]) {
        const marks = await node.book.duplicateResults()
        assert.deepEqual([...marks.keys()], [lateResult.id], `${node.name}`)
        const mark = marks.get(lateResult.id)!
        assert.equal(mark.of, earlyResult.id)
        assert.equal(mark.layer, layer)
        if (layer === 'semantic') assert.ok(mark.score !== undefined && mark.score >= 0.7)
      }
    })
  }

  it('different experiments on the two sides, or reference runs on both, are not marked', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock, referenceCodeHashes: new Set([DEFAULT_TRAIN_PY]) })
    for (const node of [a!, b!]) await publishResult(node, await node.book.append(request({ description: 'baseline: the harness default train.py', codeHash: DEFAULT_TRAIN_PY })))
    await publishResult(a!, await claimed(a!, request({ description: 'LR 0.04 -> 0.06', codeHash: code('x6') })))
    await publishResult(b!, await claimed(b!, request({ description: 'LR 0.04 -> 0.08', codeHash: code('x8') })))
    await mesh.heal()
    for (const node of [a!, b!]) {
      assert.equal(node.ledger.allResults().length, 4)
      assert.deepEqual([...(await node.book.duplicateResults())], [], node.name)
    }
  })

  it("marks follow a result's claim when the claim arrives after the result", async () => {
    // B claims first, its daemon restarts, and the new session publishes the result: an observer
    // may hold the result long before the claim that puts it first.
    const clock = new ManualClock()
    const { mesh, all: [a, b, o] } = await nodes(3, { clock })
    const bClaim = await claimed(b!, request({ codeHash: code('same') }))
    clock.advance(1_000)
    const aClaim = await claimed(a!, request({ codeHash: code('same') }), false)
    const restarted = await makeReplica({ clock, seed: 999, identity: b!.replica.identity })
    clock.advance(1_000)
    const aResult = await publishResult(a!, aClaim)
    const bResult = await restarted.state.append('result', {
      claimId: bClaim.id, parent: null, codeHash: code('same'), logHash: code('b log'), description: bClaim.body.description, delta: [], status: 'keep', metrics: null, crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: HARNESS
    })
    await mesh.deliver(a!, o!)
    for (const diff of restarted.state.diffsFor(o!.replica.state.encodeStateVector())) assert.equal((await o!.replica.state.applyRemote(diff)).verdict, 'accept')
    assert.deepEqual([...(await o!.book.duplicateResults()).keys()], [bResult.id], 'without its claim, B\'s result looks later')
    await mesh.deliver(b!, o!)
    assert.deepEqual([...(await o!.book.duplicateResults())], [[aResult.id, { of: bResult.id, layer: 'exact' }]], 'B\'s claim came first: A\'s result is the duplicate')
  })

  it('two results of one claim (a retry): the later one is the duplicate, on every node', async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const claim = await claimed(a!, request())
    clock.advance(1_000)
    const first = await publishResult(a!, claim, { status: 'crash', logHash: code('first log') })
    clock.advance(1_000)
    const retry = await publishResult(a!, claim, { logHash: code('retry log') })
    await mesh.heal()
    for (const node of [a!, b!]) assert.deepEqual([...(await node.book.duplicateResults())], [[retry.id, { of: first.id, layer: 'exact' }]], node.name)
  })

  it("a result naming another author's claim does not take that claim's place", async () => {
    const clock = new ManualClock()
    const { mesh, all: [a, b] } = await nodes(2, { clock })
    const aClaim = await claimed(a!, request({ codeHash: code('same') }))
    await mesh.heal()
    clock.advance(1_000)
    // B runs A's experiment without a claim of its own and publishes first, naming A's claim.
    const forged = await publishResult(b!, aClaim, { logHash: code('b log') })
    clock.advance(1_000)
    const honest = await publishResult(a!, aClaim)
    await mesh.heal()
    for (const node of [a!, b!]) {
      assert.deepEqual([...(await node.book.duplicateResults())], [[forged.id, { of: honest.id, layer: 'exact' }]], node.name)
    }
  })
})

// The semantic layer with the real model: words that share little, which the hashing fake cannot merge.
describe('claims with the real MiniLM model', () => {
  let embedder: MiniLmEmbedder
  const cacheDir = join(tmpdir(), `swarmd-claim-book-test-${process.pid}`)
  before(async () => { embedder = await createMiniLmEmbedder({ cacheDir }) })
  after(async () => {
    await embedder.close()
    await rm(cacheDir, { recursive: true, force: true })
  })

  it('refuses a paraphrase claimed elsewhere, keeps another target value, and marks a partition paraphrase', async () => {
    const clock = new ManualClock()
    const semantic = new SemanticDedup(embedder)
    const { mesh, all: [a, b] } = await nodes(2, { clock, semantic })
    const first = await claimed(a!, request({ description: 'raise the LR to 0.05', codeHash: code('m1') }))
    await mesh.heal()
    const refused = await b!.book.claim(request({ description: 'increase learning rate to 0.05', codeHash: code('m2') }))
    assert.ok('duplicate' in refused)
    assert.equal(refused.duplicate.layer, 'semantic')
    assert.equal(refused.duplicate.conflict.id, first.id)
    await claimed(b!, request({ description: 'increase learning rate to 0.08', codeHash: code('m3') }))
    // During a partition both sides ran the same idea in other words; the merge marks the later one.
    const { mesh: split, all: [c, d] } = await nodes(2, { clock, semantic, seed: 5 })
    const early = await publishResult(c!, await claimed(c!, request({ description: 'set WEIGHT_DECAY = 0.01', codeHash: code('w1') })))
    clock.advance(10)
    const late = await publishResult(d!, await claimed(d!, request({ description: 'weight decay 0.01', codeHash: code('w2') })))
    await split.heal()
    for (const node of [c!, d!]) {
      const mark = (await node.book.duplicateResults()).get(late.id)
      assert.equal(mark?.of, early.id)
      assert.equal(mark?.layer, 'semantic')
    }
  })
})

function shuffle<T> (items: T[], rng: ReturnType<typeof seededRng>): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('claim squatting', () => {
  it('a peer claiming everything blocks only its first DEFAULT_MAX_ACTIVE_CLAIMS, the same way on every node', async () => {
    const clock = new ManualClock()
    const { mesh, all: [squatter, honest, observer] } = await nodes(3, { clock, semantic: null })
    const experiments = Array.from({ length: DEFAULT_MAX_ACTIVE_CLAIMS + 8 }, (_, i) => request({ description: `learning rate ${i}`, codeHash: code(`squat ${i}`), delta: lr(0.001 * (i + 1)) }))
    for (const e of experiments) {
      await claimed(squatter!, e, false)
      clock.advance(1)
    }
    await mesh.heal()
    const within = experiments[2]!
    const beyond = experiments[DEFAULT_MAX_ACTIVE_CLAIMS + 3]!
    for (const node of [honest!, observer!]) {
      assert.equal((await node.book.findDuplicate(within))?.layer, 'exact', 'a claim within the allowance still blocks')
      assert.equal(await node.book.findDuplicate(beyond), undefined, 'claims beyond the allowance block nothing')
      assert.deepEqual([...node.ledger.squatters(clock.now())], [squatter!.replica.state.peerId], 'the squatter is named for gossip scoring')
    }
    // Once the squatter's early claims finish, its later ones count again: the cap is on claims held at once.
    for (const c of squatter!.ledger.allClaims().slice(0, 8)) await publishResult(squatter!, c)
    await mesh.heal()
    assert.equal((await honest!.book.findDuplicate(beyond))?.layer, 'exact')
  })
})

describe('copycats: a claim re-dated before one it saw', () => {
  const BOUND = 10 * 60_000
  const DAY = 24 * 3600_000

  /** An honest node A and attackers with clocks of their own (they date records as they like). */
  async function setup (opts: { attackers: number, ledger?: ResearchLedgerOptions, raceYieldsPerHour?: number }): Promise<{ clock: ManualClock, a: Node, attackers: Array<{ node: Node, clock: ManualClock }>, mesh: Mesh }> {
    const clock = new ManualClock()
    const a = await makeNode('A', { clock, seed: 1, semantic: null, ledger: { maxTtlMs: BOUND, ...opts.ledger }, ...(opts.raceYieldsPerHour !== undefined ? { raceYieldsPerHour: opts.raceYieldsPerHour } : {}) })
    const attackers = []
    for (let i = 0; i < opts.attackers; i++) {
      const own = new ManualClock()
      attackers.push({ node: await makeNode(`M${i}`, { clock: own, seed: 10 + i, semantic: null }), clock: own })
    }
    return { clock, a, attackers, mesh: new Mesh([a, ...attackers.map((m) => m.node)]) }
  }

  /** A writes a claim; the attacker sees it, copies it dated `backdateMs` before it with a day's ttl; A receives the copy `reactionMs` later. */
  async function copied (ctx: { clock: ManualClock, a: Node, mesh: Mesh }, attacker: { node: Node, clock: ManualClock }, req: ClaimRequest, backdateMs: number, reactionMs = 20): Promise<{ mine: ClaimEntry, copy: StoredRecord<'claim'> }> {
    const mine = await claimed(ctx.a, req, false)
    attacker.clock.set(ctx.clock.now())
    await ctx.mesh.deliver(ctx.a, attacker.node)
    attacker.clock.set(mine.createdAt - backdateMs)
    const copy = await attacker.node.replica.state.append('claim', { ...mine.body, ttlMs: DAY })
    ctx.clock.advance(reactionMs)
    await ctx.mesh.deliver(attacker.node, ctx.a)
    return { mine, copy }
  }

  it('re-dated a second earlier with a day\'s ttl: the claimant keeps its experiment, and the copy holds it for the bound at most', async () => {
    const ctx = await setup({ attackers: 1 })
    const { mine, copy } = await copied(ctx, ctx.attackers[0]!, request(), 1_000)
    assert.ok(precedes({ createdAt: copy.record.createdAt, author: copy.record.author, id: copy.id }, mine), 'the copy is dated first')
    assert.equal(await ctx.a.book.settle(mine), undefined, 'the claimant must not yield to a copy that arrived a second after its own date')
    const now = ctx.clock.now()
    assert.equal(ctx.a.ledger.status(mine, now), 'active')
    const held = ctx.a.ledger.claim(copy.id)!
    assert.equal(ctx.a.ledger.expiresAt(held), copy.record.createdAt + BOUND, 'a day asked, the bound given')
    assert.equal(ctx.a.ledger.status(held, copy.record.createdAt + BOUND), 'expired')
  })

  it('the same copy wins where a late arrival keeps its date (the rule is what stops it)', async () => {
    const ctx = await setup({ attackers: 1, ledger: { maxLagMs: Number.POSITIVE_INFINITY } })
    const { mine, copy } = await copied(ctx, ctx.attackers[0]!, request(), 1_000)
    assert.equal((await ctx.a.book.settle(mine))?.conflict.id, copy.id)
  })

  it('re-dated by a millisecond (a race it cannot be told from): fresh keys together win at most the allowance, which refills after an hour', async () => {
    const ctx = await setup({ attackers: 4, raceYieldsPerHour: 2 })
    const outcomes: boolean[] = []
    for (let i = 0; i < 3; i++) {
      const { mine } = await copied(ctx, ctx.attackers[i]!, request({ description: `experiment ${i}`, codeHash: code(`experiment ${i}`) }), 1)
      outcomes.push((await ctx.a.book.settle(mine)) !== undefined)
    }
    assert.deepEqual(outcomes, [true, true, false], 'three fresh keys, an allowance of two: the third copy must not win')
    assert.equal(ctx.a.book.raceYieldsLeft(), 0)
    ctx.clock.advance(3600_000)
    const { mine } = await copied(ctx, ctx.attackers[3]!, request({ description: 'experiment 3', codeHash: code('experiment 3') }), 1)
    assert.ok((await ctx.a.book.settle(mine)) !== undefined, 'an hour later an honest race is decided by date again')
  })

  it('two claims settling at once cannot both spend the last race of the allowance', async () => {
    const ctx = await setup({ attackers: 2, raceYieldsPerHour: 1 })
    const pairs = []
    for (let i = 0; i < 2; i++) pairs.push(await copied(ctx, ctx.attackers[i]!, request({ description: `parallel ${i}`, codeHash: code(`parallel ${i}`) }), 1))
    const hits = await Promise.all(pairs.map(async ({ mine }) => ctx.a.book.settle(mine)))
    assert.equal(hits.filter((h) => h !== undefined).length, 1)
  })

  it('beyond the allowance a racer with standing still wins, and so does a claim this node held before it wrote its own', async () => {
    const clock = new ManualClock()
    const trustedClock = new ManualClock()
    const b = await makeNode('B', { clock: trustedClock, seed: 2, semantic: null })
    const c = await makeNode('C', { clock, seed: 3, semantic: null })
    const trusted = b.replica.state.peerId
    const a = await makeNode('A', { clock, seed: 1, semantic: null, raceYieldsPerHour: 0, ledger: { hasStanding: (author) => author === trusted } })
    const mesh = new Mesh([a, b, c])
    // B (standing) claimed 5 ms before A, still in flight when A wrote its claim.
    trustedClock.set(clock.now() - 5)
    const racer = await claimed(b, request(), false)
    const mine = await claimed(a, request(), false)
    clock.advance(10)
    await mesh.deliver(b, a)
    assert.equal((await a.book.settle(mine))?.conflict.id, racer.id)
    // C (no standing) claimed earlier and A held it when it wrote its own without a check (append).
    const held = await claimed(c, request({ description: 'other', codeHash: code('other') }), false)
    await mesh.deliver(c, a)
    clock.advance(10)
    const blind = await a.book.append(request({ description: 'other', codeHash: code('other') }))
    assert.equal((await a.book.settle(blind))?.conflict.id, held.id)
  })

  it('honest racers on a shared clock: the earlier claim still wins on every node, and neither spends an allowance of zero on a conflict known in time', async () => {
    // Two claims of one experiment 30 ms apart, each delivered within the lag: the earlier stands.
    const clock = new ManualClock()
    const { mesh, all: [x, y] } = await nodes(2, { clock, raceYieldsPerHour: 1 })
    const first = await claimed(x!, request(), false)
    clock.advance(30)
    const second = await claimed(y!, request(), false)
    clock.advance(40)
    await mesh.heal()
    assert.equal(await x!.book.settle(first), undefined)
    assert.equal((await y!.book.settle(second))?.conflict.id, first.id)
    await mesh.heal()
    for (const node of [x!, y!]) assert.deepEqual(node.ledger.allClaims().filter((e) => node.ledger.status(e, clock.now()) === 'active').map((e) => e.id), [first.id])
  })

  it('a claim asking for more than the bound is written with the bound: heartbeats come in time', async () => {
    const ctx = await setup({ attackers: 0 })
    const mine = await claimed(ctx.a, request({ ttlMs: DAY }))
    assert.equal(mine.body.ttlMs, BOUND)
    assert.equal(ctx.a.ledger.expiresAt(mine), mine.createdAt + BOUND)
  })
})
