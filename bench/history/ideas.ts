/**
 * Experiment ideas as agents word them: changes of train.py's constants (with a delta) and free
 * ideas outside them, each with its wordings. The synthetic swarm histories of the claim-check and
 * join benches draw from these (bench/history/swarm-history.ts).
 */
import { deltaKey } from '../../src/claims/dedup.js'
import type { DeltaEntry } from '../../src/state/record-kinds.js'
import type { Rng } from '../../src/util/rng.js'

/** A constant of train.py, the words agents use for it, its default and the range a sane experiment keeps it in. */
export interface Knob { name: string, words: string[], init: number, int: boolean, min: number, max: number }

/** train.py's module-level constants (train/train.py), as agents name them. */
export const KNOBS: Knob[] = [
  { name: 'LEARNING_RATE', words: ['learning rate', 'LR', 'lr', 'peak learning rate'], init: 0.01, int: false, min: 0.0001, max: 0.1 },
  { name: 'WARMUP_STEPS', words: ['warmup steps', 'warmup', 'LR warmup length'], init: 20, int: true, min: 1, max: 2000 },
  { name: 'WEIGHT_DECAY', words: ['weight decay', 'wd', 'AdamW weight decay'], init: 0.05, int: false, min: 0.001, max: 1 },
  { name: 'BATCH_SIZE', words: ['batch size', 'bs', 'sequences per step'], init: 16, int: true, min: 4, max: 512 },
  { name: 'DEPTH', words: ['depth', 'number of layers', 'n_layer'], init: 2, int: true, min: 1, max: 24 },
  { name: 'WIDTH', words: ['width', 'model dimension', 'n_embd'], init: 64, int: true, min: 32, max: 1024 },
  { name: 'HEADS', words: ['attention heads', 'heads', 'n_head'], init: 4, int: true, min: 1, max: 16 },
  { name: 'MLP_RATIO', words: ['MLP ratio', 'FFN expansion', 'MLP hidden multiple'], init: 4, int: true, min: 1, max: 8 },
  { name: 'DECAY_FRACTION', words: ['decay fraction', 'LR decay fraction', 'cooldown fraction'], init: 0.3, int: false, min: 0.05, max: 0.9 },
  { name: 'GRAD_CLIP', words: ['grad clip', 'gradient clipping norm', 'clip norm'], init: 1, int: false, min: 0.1, max: 5 },
  { name: 'ROTARY_BASE', words: ['rotary base', 'RoPE base', 'rope theta'], init: 10_000, int: true, min: 1000, max: 1_000_000 }
]

/** Ideas outside train.py's constants (an agent edits the code): concept, values, wordings ({v} = value). */
export const FREE_IDEAS: Array<{ id: string, values: Array<string | number>, wordings: string[] }> = [
  { id: 'dropout', values: [0.05, 0.1, 0.15, 0.2, 0.3], wordings: ['add dropout {v}', 'dropout {v} on attention and MLP outputs', 'regularize with {v} dropout', 'use a dropout rate of {v}'] },
  { id: 'label-smoothing', values: [0.05, 0.1, 0.2], wordings: ['label smoothing {v}', 'add {v} label smoothing to the loss', 'smooth the targets with epsilon {v}'] },
  { id: 'z-loss', values: ['1e-4', '1e-3', '1e-5'], wordings: ['add z-loss with coefficient {v}', 'z-loss {v} on the logits', 'penalize the log partition function, weight {v}'] },
  { id: 'ema', values: [0.99, 0.995, 0.999, 0.9995], wordings: ['evaluate an EMA of the weights with decay {v}', 'keep a {v} exponential moving average of parameters for eval', 'weight EMA {v}'] },
  { id: 'softcap', values: [15, 20, 30, 50], wordings: ['logit soft-capping at {v}', 'softcap the output logits to {v} with tanh', 'cap logits with {v}*tanh(x/{v})'] },
  { id: 'beta2', values: [0.9, 0.95, 0.98, 0.99, 0.995], wordings: ['Adam beta2 {v}', 'set the second Adam beta to {v}', 'use betas=(0.9, {v})'] },
  { id: 'beta1', values: [0.8, 0.85, 0.95], wordings: ['Adam beta1 {v}', 'set the first Adam beta to {v}', 'lower momentum: beta1 {v}'] },
  { id: 'grad-accum', values: [2, 4, 8], wordings: ['gradient accumulation over {v} micro-batches', 'accumulate gradients for {v} steps', 'grad accum {v}'] },
  { id: 'window', values: [32, 64, 128, 256], wordings: ['sliding window attention of {v} tokens', 'local attention with window {v}', 'restrict attention to the last {v} positions'] },
  { id: 'init-std', values: [0.01, 0.02, 0.04], wordings: ['init weights with std {v}', 'normal init, std {v}', 'change the initialization scale to {v}'] },
  { id: 'swiglu', values: [''], wordings: ['replace GELU with SwiGLU in the MLP', 'SwiGLU activation instead of GELU', 'gated linear unit (SwiGLU) feed-forward'] },
  { id: 'relu2', values: [''], wordings: ['use squared ReLU in the MLP', 'relu^2 activation', 'swap GELU for ReLU squared'] },
  { id: 'rmsnorm', values: [''], wordings: ['use RMSNorm instead of LayerNorm', 'replace LayerNorm with RMSNorm', 'RMSNorm everywhere'] },
  { id: 'qk-norm', values: [''], wordings: ['add QK-norm', 'normalize queries and keys before attention', 'RMSNorm on q and k'] },
  { id: 'tie', values: [''], wordings: ['tie the token embedding and the output head', 'share weights between wte and lm_head', 'weight tying of input and output embeddings'] },
  { id: 'no-bias', values: [''], wordings: ['remove biases from all linear layers', 'bias=False in every nn.Linear', 'drop the linear layer biases'] },
  { id: 'zero-init', values: [''], wordings: ['zero-init the output projections', 'initialize residual projections to zero', 'zero init for attn.proj and mlp.proj'] },
  { id: 'mqa', values: [''], wordings: ['multi-query attention (one shared key/value head)', 'use MQA', 'share a single K/V head across all query heads'] },
  { id: 'cosine', values: [''], wordings: ['cosine learning rate schedule instead of linear decay', 'switch the LR decay to cosine', 'use a cosine LR schedule'] },
  { id: 'parallel', values: [''], wordings: ['parallel attention and MLP blocks', 'compute attention and MLP in parallel from the same input', 'GPT-J style parallel residual'] },
  { id: 'lion', values: [''], wordings: ['try the Lion optimizer', 'replace AdamW with Lion', 'Lion instead of AdamW'] },
  { id: 'post-norm', values: [''], wordings: ['post-norm instead of pre-norm', 'move LayerNorm after the residual add', 'switch to post-LN transformer blocks'] }
]

const roundSig = (x: number): number => Number(x.toPrecision(2))
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!

/** One experiment idea: a change of constants (with a delta), or a free idea (delta []). */
export interface Idea {
  key: string
  delta: DeltaEntry[]
  /** Generated when needed: 50,000 ideas' worth of wordings would weigh on the heap being measured. */
  wordings: () => string[]
}

function knobWordings (knob: Knob, from: number, to: number): string[] {
  const up = to > from
  return [
    `${knob.name} ${from} -> ${to}`,
    ...knob.words.flatMap((w) => [
      `${up ? 'increase' : 'decrease'} ${w} from ${from} to ${to}`,
      `set ${w} to ${to}`,
      `${up ? 'raise' : 'lower'} the ${w} to ${to}`,
      `try ${w}=${to}`
    ])
  ]
}

function mutate (rng: Rng, knob: Knob, from: number): number {
  const to = knob.int ? Math.round(from * pick(rng, [0.5, 0.75, 1.25, 1.5, 2, 3])) : roundSig(from * Math.exp((rng.next() * 2 - 1) * 1.2))
  return Math.min(knob.max, Math.max(knob.min, to))
}

/** A change of one or two constants (`changes`; default: two in 15 % of ideas) not yet tried on this parent. */
export function knobIdea (rng: Rng, config: Map<string, number>, tried: Set<string>, changes?: 1 | 2): Idea | undefined {
  for (let attempt = 0; attempt < 50; attempt++) {
    const two = changes === undefined ? rng.next() < 0.15 : changes === 2
    const knobs = two ? [pick(rng, KNOBS), pick(rng, KNOBS)] : [pick(rng, KNOBS)]
    if (knobs.length === 2 && knobs[0] === knobs[1]) continue
    const delta = knobs.map((k) => ({ name: k.name, from: config.get(k.name)!, to: mutate(rng, k, config.get(k.name)!) }))
    if (delta.some((d) => d.to === d.from)) continue
    const key = deltaKey(delta)
    if (tried.has(key)) continue
    const wordings = (): string[] => delta.length === 1
      ? knobWordings(KNOBS.find((k) => k.name === delta[0]!.name)!, delta[0]!.from, delta[0]!.to)
      : [
          delta.map((d) => `${d.name} ${d.from} -> ${d.to}`).join(', '),
          `set ${delta.map((d) => `${KNOBS.find((k) => k.name === d.name)!.words[0]!} to ${d.to}`).join(' and ')}`
        ]
    return { key, delta, wordings }
  }
  return undefined
}

export function freeIdea (rng: Rng, tried: Set<string>): Idea | undefined {
  for (let attempt = 0; attempt < 20; attempt++) {
    const idea = pick(rng, FREE_IDEAS)
    const v = String(pick(rng, idea.values))
    const key = `${idea.id}:${v}`
    if (tried.has(key)) continue
    return { key, delta: [], wordings: () => idea.wordings.map((w) => w.replaceAll('{v}', v)) }
  }
  return undefined
}
