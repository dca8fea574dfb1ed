/**
 * Duplicate work in a simulated swarm: agents draw experiments from one pool of ideas, each
 * idea written several ways, and run them; how many of the executed experiments repeated an
 * idea that had already run, under each dedup policy.
 *
 *   npm run bench:duplicates                 # defaults: --agents 8 --experiments 5 --trials 20 --seed 1
 *
 * Every agent has its own SwarmState replica and ResearchLedger; a record written on one replica
 * reaches each other one after a simulated gossip delay (FIFO per link), in virtual time.
 * An agent draws a random idea and one of its wordings from bench/data/idea-pool.tsv (or
 * --pool), claims it, runs it for about --run-s seconds and publishes a result; a refused draw
 * costs some thinking time and it draws again (at most 10 draws per slot). Each agent executes
 * --experiments runs per trial. Ground truth: an executed run is a duplicate when its idea had
 * already been started by any agent (ordered by start time).
 *
 * Two claim styles, each with every policy:
 *   with code         train/program.md's loop, `swarmd claim "DESC" --code train.py`: an idea
 *                     that only changes train.py constants (CONSTANT_EDITS) carries that delta
 *                     and the same train.py hash whoever writes it; other ideas are code edits,
 *                     different on every agent, with no delta
 *   description only  the idea claimed before any code exists: only the semantic layer can help
 *
 * Policies, each on the same seeds:
 *   swarmd            ClaimBook.findDuplicate (all layers, live claims and all results), the
 *                     settle window (--settle-ms), yield to the earlier claim
 *   swarmd, no settle the same check without the settle window
 *   active claims     the simpler policy: semantic check against active claims only, no settle
 *   alone             each agent with swarmd's check on its own replica, nothing shared
 */
import '../src/util/polyfill.js'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClaimBook } from '../src/claims/claim-book.js'
import { ResearchLedger, precedes } from '../src/claims/research-ledger.js'
import { createMiniLmEmbedder } from '../src/embedding/minilm-onnx.js'
import { SemanticDedup } from '../src/claims/semantic.js'
import { sha256Hex } from '../src/util/hash.js'
import { ManualClock } from '../src/util/clock.js'
import { seededRng } from '../src/util/rng.js'
import { makeReplica } from '../test/helpers/replica.js'
import { machineLine, parseFlags, progress } from './harness.js'
import type { ClaimCandidate, DuplicateCheckOptions, DuplicateHit } from '../src/claims/claim-book.js'
import type { ClaimEntry } from '../src/claims/research-ledger.js'
import type { DeltaEntry, ResultBody } from '../src/state/record-kinds.js'
import type { UpdateStore } from '../src/state/update-store.js'
import type { Rng } from '../src/util/rng.js'
import type { Replica } from '../test/helpers/replica.js'

/** `--pool FILE` is a path, not a number: taken out of argv before the numeric flags are parsed. */
function takePool (argv: string[]): { pool: string | undefined, rest: string[] } {
  const rest: string[] = []
  let pool: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--pool') pool = argv[++i]
    else if (arg.startsWith('--pool=')) pool = arg.slice('--pool='.length)
    else rest.push(arg)
  }
  return { pool, rest }
}
const args = takePool(process.argv.slice(2))
const flags = parseFlags('bench:duplicates', 'fraction of executed experiments that were duplicates, per dedup policy, in a simulated swarm (--pool FILE.tsv, default bench/data/idea-pool.tsv)', {
  agents: { default: 8, help: 'agents, each with its own replica' },
  experiments: { default: 5, help: 'runs each agent executes per trial' },
  trials: { default: 20, help: 'independent trials (seeds seed..seed+trials-1)' },
  seed: { default: 1, help: 'first seed' },
  'run-s': { default: 300, help: 'mean run time, s (each run 80-120 % of it)' },
  'think-s': { default: 30, help: 'mean time an agent takes to propose the next idea, s' },
  'gossip-ms': { default: 40, help: 'mean gossip delay between two agents, ms (exponential, +5 ms; bench:propagation p50 15 ms, p99 70 ms)' },
  'settle-ms': { default: 500, help: 'settle window of the swarmd policy (config default)' },
  threshold: { default: 0, help: 'cosine threshold of the semantic layer; 0: SemanticDedup\'s default, as the daemon runs it' }
}, args.rest)
const POOL = args.pool ?? fileURLToPath(new URL('../../bench/data/idea-pool.tsv', import.meta.url))
const HARNESS = 'bench'

/** Ideas of the default pool that are pure constant edits of train/train.py (its values). */
const CONSTANT_EDITS: Record<string, DeltaEntry[]> = {
  'lr-0.02': [{ name: 'LEARNING_RATE', from: 0.01, to: 0.02 }],
  'lr-0.005': [{ name: 'LEARNING_RATE', from: 0.01, to: 0.005 }],
  'lr-0.03': [{ name: 'LEARNING_RATE', from: 0.01, to: 0.03 }],
  'warmup-100': [{ name: 'WARMUP_STEPS', from: 20, to: 100 }],
  'warmup-0': [{ name: 'WARMUP_STEPS', from: 20, to: 0 }],
  'width-128': [{ name: 'WIDTH', from: 64, to: 128 }],
  'width-96': [{ name: 'WIDTH', from: 64, to: 96 }],
  'depth-4': [{ name: 'DEPTH', from: 2, to: 4 }],
  'depth-3': [{ name: 'DEPTH', from: 2, to: 3 }],
  'heads-8': [{ name: 'HEADS', from: 4, to: 8 }],
  'heads-2': [{ name: 'HEADS', from: 4, to: 2 }],
  'mlp-2': [{ name: 'MLP_RATIO', from: 4, to: 2 }],
  'wd-0.1': [{ name: 'WEIGHT_DECAY', from: 0, to: 0.1 }],
  'bs-32': [{ name: 'BATCH_SIZE', from: 16, to: 32 }],
  'bs-8': [{ name: 'BATCH_SIZE', from: 16, to: 8 }],
  'beta2-0.95': [{ name: 'BETA2', from: 0.99, to: 0.95 }],
  'rope-base-50k': [{ name: 'ROTARY_BASE', from: 10_000, to: 50_000 }],
  'clip-0.5': [{ name: 'GRAD_CLIP', from: 1, to: 0.5 }],
  'no-clip': [{ name: 'GRAD_CLIP', from: 1, to: 0 }],
  'decay-0.5': [{ name: 'DECAY_FRACTION', from: 0.3, to: 0.5 }]
}
/** An agent that finds no free idea in this many draws gives the slot up (1 slot in 800 in the default run). */
const MAX_DRAWS_PER_SLOT = 10

interface Wording { idea: string, text: string }
const pool: Wording[] = (await readFile(POOL, 'utf8')).split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => {
  const [idea, text] = l.split('\t')
  if (idea === undefined || text === undefined || text.trim() === '') throw new Error(`bad row in ${POOL}: ${l}`)
  return { idea: idea.trim(), text: text.trim() }
})
for (const w of pool) {
  const other = pool.find((o) => o.text === w.text && o.idea !== w.idea)
  if (other !== undefined) throw new Error(`${POOL}: "${w.text}" is a wording of both ${w.idea} and ${other.idea}`)
}
const ideas = [...new Set(pool.map((w) => w.idea))]
const wordingsOf = new Map(ideas.map((id) => [id, pool.filter((w) => w.idea === id)]))
const ideaOfText = new Map(pool.map((w) => [w.text, w.idea]))

class DiscardStore implements UpdateStore {
  async open (): Promise<void> {}
  async load (): Promise<Uint8Array | null> { return null }
  async append (): Promise<void> {}
  async close (): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// Virtual time

/** Events in virtual time, earliest first; ties in the order they were scheduled. */
class Scheduler {
  private readonly queue: Array<{ at: number, seq: number, run: () => Promise<void> }> = []
  private seq = 0
  constructor (readonly clock: ManualClock) {}

  at (time: number, run: () => Promise<void>): void {
    const item = { at: time, seq: this.seq++, run }
    let i = this.queue.length
    while (i > 0 && (this.queue[i - 1]!.at > time)) i--
    this.queue.splice(i, 0, item)
  }

  async drain (): Promise<void> {
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      if (next.at > this.clock.now()) this.clock.set(next.at)
      await next.run()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One trial of one policy

type Policy = 'swarmd' | 'swarmd, no settle' | 'active claims only' | 'alone'
const POLICIES: Policy[] = ['swarmd', 'swarmd, no settle', 'active claims only', 'alone']
type Style = 'with code' | 'description only'
const STYLES: Style[] = ['with code', 'description only']

interface Tally {
  executed: number
  duplicates: number
  /** Duplicates whose earlier run this agent's replica already held when it checked (the check missed it). */
  missedVisible: number
  refusals: number
  /** Refusals whose conflict was a different idea. */
  wrongRefusals: number
  yielded: number
  skippedSlots: number
  examples: string[]
}

const emptyTally = (): Tally => ({ executed: 0, duplicates: 0, missedVisible: 0, refusals: 0, wrongRefusals: 0, yielded: 0, skippedSlots: 0, examples: [] })

async function trial (style: Style, policy: Policy, seed: number, semantic: SemanticDedup, tally: Tally): Promise<void> {
  const rng = seededRng(seed)
  const clock = new ManualClock(1_760_000_000_000)
  const sched = new Scheduler(clock)
  const agents: Array<{ replica: Replica, ledger: ResearchLedger, book: ClaimBook }> = []
  for (let i = 0; i < flags.agents; i++) {
    const replica = await makeReplica({ seed: seed * 100 + i, clock, store: new DiscardStore() })
    const ledger = new ResearchLedger(replica.state, HARNESS)
    const book = new ClaimBook({ state: replica.state, ledger, clock, semantic, onSemanticError: (err) => { throw err } }, { settleMs: 0 })
    agents.push({ replica, ledger, book })
  }
  // Gossip: every local write reaches each other replica after a delay, in order per link.
  if (policy !== 'alone') {
    const linkFree = new Map<string, number>()
    agents.forEach((from, i) => {
      from.replica.state.on('local-update', (update) => {
        agents.forEach((to, j) => {
          if (i === j) return
          const link = `${i}>${j}`
          const at = Math.max(linkFree.get(link) ?? 0, clock.now() + 5 + Math.round(exponential(rng, Math.max(0, flags['gossip-ms'] - 5))))
          linkFree.set(link, at)
          sched.at(at, async () => {
            const outcome = await to.replica.state.applyRemote(update)
            if (outcome.verdict !== 'accept') throw new Error(`replica ${j} refused an update from ${i}: ${outcome.fault ?? ''} ${outcome.message ?? ''}`)
          })
        })
      })
    })
  }
  const check: DuplicateCheckOptions = policy === 'active claims only' ? { layers: ['semantic'], activeClaimsOnly: true } : {}
  const settles = policy === 'swarmd'
  /** Every run started, in start order: the ground truth. */
  const started: Array<{ idea: string, agent: number, at: number }> = []
  const runMs = flags['run-s'] * 1000

  const startSlot = (a: number, done: number, draws: number): void => {
    if (done >= flags.experiments) return
    if (draws >= MAX_DRAWS_PER_SLOT) {
      tally.skippedSlots++
      sched.at(clock.now() + thinkMs(rng), async () => { startSlot(a, done + 1, 0) })
      return
    }
    sched.at(clock.now() + thinkMs(rng), async () => {
      const agent = agents[a]!
      const idea = ideas[rng.int(ideas.length)]!
      const wording = pick(rng, wordingsOf.get(idea)!)
      // The train.py an agent writes: a constant edit is the same file whoever makes it.
      const edit = CONSTANT_EDITS[idea]
      const code = { codeHash: sha256Hex(edit !== undefined ? `train.py ${idea}` : `train.py ${seed} ${a} ${done} ${draws}`), delta: edit ?? [] }
      const candidate: ClaimCandidate = style === 'with code'
        ? { description: wording.text, parent: null, ...code }
        : { description: wording.text, codeHash: null, parent: null, delta: [] }
      const hit = await agent.book.findDuplicate(candidate, check)
      if (hit !== undefined) {
        tally.refusals++
        const conflictIdea = ideaOfText.get(hit.conflict.description)
        if (conflictIdea !== idea) {
          tally.wrongRefusals++
          note(tally, `refused "${wording.text}" [${idea}] as a duplicate of "${hit.conflict.description}" [${conflictIdea ?? '?'}] (${describe(hit)})`)
        }
        startSlot(a, done, draws + 1)
        return
      }
      const claim = await agent.book.append({ ...candidate, tier: 'vram24', ttlMs: 3 * runMs })
      const finish = async (): Promise<void> => {
        const earlier = started.find((s) => s.idea === idea)
        if (earlier !== undefined) {
          tally.duplicates++
          const now = clock.now()
          const seen = agent.ledger.allClaims().find((c) => c.id !== claim.id && precedes(c, claim) && ideaOfText.get(c.body.description) === idea && ['active', 'finished'].includes(agent.ledger.status(c, now)))
          if (seen !== undefined && policy !== 'alone') {
            tally.missedVisible++
            if (policy === 'swarmd') {
              const v = await semantic.compare(wording.text, seen.body.description)
              note(tally, `ran "${wording.text}" [${idea}] though this replica held "${seen.body.description}" (cos ${v.score.toFixed(2)}${v.guard !== undefined ? `, guard ${v.guard}` : ''})`)
            }
          }
        }
        started.push({ idea, agent: a, at: claim.createdAt })
        tally.executed++
        const duration = Math.round(runMs * (0.8 + 0.4 * rng.next()))
        sched.at(clock.now() + duration, async () => {
          await agent.replica.state.append('result', resultBody(claim, code))
          startSlot(a, done + 1, 0)
        })
      }
      if (!settles) return finish()
      // The settle window: after it, the later of two racing claims yields.
      sched.at(clock.now() + flags['settle-ms'], async () => {
        const late = await agent.book.settle(claim)
        if (late !== undefined) {
          tally.yielded++
          startSlot(a, done, draws + 1)
          return
        }
        await finish()
      })
    })
  }
  // Agents come online within the first minute.
  for (let a = 0; a < flags.agents; a++) sched.at(clock.now() + rng.int(60_000), async () => { startSlot(a, 0, 0) })
  await sched.drain()
  for (const agent of agents) {
    agent.ledger.close()
    await agent.replica.state.stop()
    agent.replica.state.doc.destroy()
  }
}

/** The result is published with the code that ran (`swarmd publish --code`), whatever the claim carried. */
function resultBody (claim: ClaimEntry, code: { codeHash: string, delta: DeltaEntry[] }): ResultBody {
  return {
    claimId: claim.id,
    parent: null,
    codeHash: code.codeHash,
    logHash: sha256Hex(`log ${claim.id}`),
    description: claim.body.description,
    delta: code.delta,
    status: 'discard',
    metrics: { val_bpb: 1, training_seconds: 300, total_seconds: 325, peak_vram_mb: 18_000, mfu_percent: 38, total_tokens_M: 250, num_steps: 1200, num_params_M: 50, depth: 12 },
    crash: null,
    hardware: { gpu: 'RTX 4090', vramGb: 24, tier: 'vram24' },
    harness: HARNESS
  }
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!
const exponential = (rng: Rng, mean: number): number => -Math.log(1 - rng.next()) * mean
const thinkMs = (rng: Rng): number => Math.round(1000 + exponential(rng, Math.max(0, flags['think-s'] * 1000 - 1000)))
const describe = (hit: DuplicateHit): string => `${hit.layer}${hit.score !== undefined ? ` cos ${hit.score.toFixed(2)}` : ''}`
function note (tally: Tally, line: string): void {
  if (tally.examples.length < 6) tally.examples.push(line)
}

// ---------------------------------------------------------------------------------------------

const pct = (a: number, b: number): string => (b === 0 ? '-' : `${(100 * a / b).toFixed(1)} %`)
const cacheDir = join(tmpdir(), `swarmd-bench-duplicates-${process.pid}`)
const embedder = await createMiniLmEmbedder({ cacheDir, log: (line) => { progress(line) } })
const semantic = new SemanticDedup(embedder, flags.threshold > 0 ? { threshold: flags.threshold } : {})

const tallies = new Map<string, Tally>(STYLES.flatMap((style) => POLICIES.map((p) => [`${style}/${p}`, emptyTally()])))
const tallyOf = (style: Style, policy: Policy): Tally => tallies.get(`${style}/${policy}`)!
const started = performance.now()
const pairs = { same: 0, sameCaught: 0, other: 0, otherMerged: 0 }
try {
  // The semantic rule on every pair of wordings in the pool: what the simulation's numbers rest on.
  for (let i = 0; i < pool.length; i++) {
    for (let j = i + 1; j < pool.length; j++) {
      const { duplicate } = await semantic.compare(pool[i]!.text, pool[j]!.text)
      if (pool[i]!.idea === pool[j]!.idea) {
        pairs.same++
        if (duplicate) pairs.sameCaught++
      } else {
        pairs.other++
        if (duplicate) pairs.otherMerged++
      }
    }
  }
  progress(`pool pairs: ${pairs.sameCaught}/${pairs.same} wordings of one idea judged duplicates, ${pairs.otherMerged}/${pairs.other} pairs of different ideas merged`)
  for (let t = 0; t < flags.trials; t++) {
    const seed = flags.seed + t
    for (const style of STYLES) for (const policy of POLICIES) await trial(style, policy, seed, semantic, tallyOf(style, policy))
    const c = tallyOf('with code', 'swarmd')
    const d = tallyOf('description only', 'swarmd')
    progress(`trial ${t + 1}/${flags.trials} (seed ${seed}) done, ${((performance.now() - started) / 1000).toFixed(0)} s; swarmd so far ${c.duplicates}/${c.executed} duplicates with code, ${d.duplicates}/${d.executed} by description`)
  }
} finally {
  await embedder.close()
  await rm(cacheDir, { recursive: true, force: true })
}

console.log(`\nduplicate work: ${flags.agents} agents x ${flags.experiments} runs, ${flags.trials} trials (seeds ${flags.seed}..${flags.seed + flags.trials - 1}), pool ${ideas.length} ideas in ${pool.length} wordings (${POOL})`)
console.log(`  runs ${flags['run-s']} s +-20 %, thinking ${flags['think-s']} s mean, gossip ${flags['gossip-ms']} ms mean, settle ${flags['settle-ms']} ms; ${ideas.filter((i) => CONSTANT_EDITS[i] !== undefined).length} ideas are constant edits of train.py`)
console.log(`machine: ${machineLine()}`)
console.log(`  the semantic rule on all pairs of the pool's wordings: same idea judged duplicate ${pairs.sameCaught}/${pairs.same} = ${pct(pairs.sameCaught, pairs.same)}, different ideas merged ${pairs.otherMerged}/${pairs.other} = ${pct(pairs.otherMerged, pairs.other)}`)
for (const style of STYLES) {
  console.log(`  claims ${style}:`)
  for (const policy of POLICIES) {
    const t = tallyOf(style, policy)
    console.log(`    ${policy.padEnd(20)} executed ${String(t.executed).padStart(4)}  duplicates ${String(t.duplicates).padStart(3)} = ${pct(t.duplicates, t.executed).padStart(7)}  (earlier run was visible: ${t.missedVisible})  refused ${t.refusals}, wrongly (another idea) ${t.wrongRefusals}  yielded ${t.yielded}  slots given up ${t.skippedSlots}`)
    for (const e of t.examples) console.log(`        ${e}`)
  }
}
const f = (style: Style, p: Policy): string => pct(tallyOf(style, p).duplicates, tallyOf(style, p).executed)
const wrong = (style: Style): string => `${tallyOf(style, 'swarmd').wrongRefusals}/${tallyOf(style, 'swarmd').refusals}`
console.log(`duplicates among executed, with code: swarmd ${f('with code', 'swarmd')} (wrongly refused ${wrong('with code')}), alone ${f('with code', 'alone')}, semantic vs active claims only ${f('with code', 'active claims only')}; by description only: swarmd ${f('description only', 'swarmd')} (wrongly refused ${wrong('description only')}), alone ${f('description only', 'alone')}, active claims only ${f('description only', 'active claims only')}`)
