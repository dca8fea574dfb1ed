import { cosine } from '../embedding/embedder.js'
import { GLOSSARY } from './glossary.js'
import type { Embedder } from '../embedding/embedder.js'

/**
 * The semantic dedup layer (DESIGN §4): two experiment descriptions are the same experiment
 * when, after abbreviations are expanded, their embeddings are close AND nothing concrete
 * tells them apart. MiniLM scores "LR 0.04" vs "LR 0.08" at 0.94 and "double" vs "halve" at
 * 0.89, so the embedding alone would merge different experiments; the guards catch what it
 * cannot see: target values, direction, and a single swapped term.
 */

/**
 * A pattern per glossary term (each entry's meaning is a term too, so expanding twice changes
 * nothing), longest first across all entries: "cosine learning rate schedule" is read whole before
 * "learning rate" is.
 */
const EXPANSIONS: ReadonlyArray<{ pattern: RegExp, entry: number }> = GLOSSARY
  .flatMap((e, entry) => [e.means, ...e.terms].map((term) => ({ term, entry })))
  .sort((x, y) => y.term.length - x.term.length)
  .map(({ term, entry }) => ({
    pattern: new RegExp(`(?<![a-z0-9])${term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '[\\s_-]+')}(?![a-z0-9])`, 'g'),
    entry
  }))

/** The glossary's meanings for what a description says (a placeholder per match first, so no term rewrites another's meaning). */
function applyGlossary (text: string): string {
  let out = text
  for (const { pattern, entry } of EXPANSIONS) out = out.replace(pattern, `\u0000${entry}\u0000`)
  return out.replace(/\u0000(\d+)\u0000/g, (_, i: string) => GLOSSARY[Number(i)]!.means)
}

/** Words that say which way a change goes. */
const UP = new Set(['increase', 'raise', 'double', 'lengthen', 'longer', 'more', 'add', 'enable', 'larger', 'bigger', 'higher', 'widen', 'deepen', 'grow', 'tie'])
const DOWN = new Set(['decrease', 'reduce', 'halve', 'lower', 'shorten', 'shorter', 'fewer', 'less', 'remove', 'disable', 'smaller', 'drop', 'shrink', 'untie', 'no', 'without'])

/** Words that take a thing out rather than change how much of it there is. */
const REMOVE = new Set(['remove', 'disable', 'drop', 'without', 'no', 'eliminate', 'delete', 'skip'])

const STOP = new Set(['the', 'a', 'an', 'to', 'of', 'for', 'in', 'on', 'at', 'by', 'from', 'with', 'and', 'or', 'use', 'set', 'all', 'instead', 'try', 'using', 'steps', 'step'])
/** Verbs that say "make this change" without saying which: never the term that was swapped. */
const EDIT_VERBS = new Set(['swap', 'replace', 'change', 'switch', 'make', 'apply', 'put', 'move', 'turn', 'go', 'adopt'])
/** Morpheme pairs that turn a term into a different one ("warmup" / "warmdown", "pre-norm" / "post-norm"). */
const OPPOSED_PARTS: Array<[string, string]> = [['up', 'down'], ['pre', 'post'], ['min', 'max'], ['first', 'last'], ['start', 'end'], ['in', 'out'], ['one', 'two']]

/** Two single terms that name different things although they look alike. */
function contrastingTerms (a: string, b: string): boolean {
  // beta1 / beta2, layer3 / layer4: the same stem with other digits.
  const stemA = a.replace(/\d+/g, '#')
  if (stemA === b.replace(/\d+/g, '#') && stemA.includes('#')) return true
  for (const [x, y] of OPPOSED_PARTS) {
    if (a.replace(x, y) === b || a.replace(y, x) === b) return true
  }
  return false
}

/** A number as one text whatever way it was written (1e-4 and 0.0001, 0.50 and 0.5). */
const canonical = (value: number): string => (Number.isFinite(value) ? String(Number(value.toPrecision(12))) : 'nan')
const SCALE: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9 }

/**
 * Numbers in one form, however they are written: powers (`2**18`, `2^18`), counts with a suffix
 * (`100k`, `1.5M`, `2B`), percent spelt out (`5 percent`), exponents and trailing zeros
 * (`1e-4`, `0.00010`): so the embedding and the value guard see one value as one value.
 */
export function canonicalNumbers (lower: string): string {
  return lower
    .replace(/(?<![a-z_.\d])(\d+(?:\.\d+)?)\s*(?:\*\*|\^)\s*(-?\d+)(?![\d.])/g, (_, base: string, exponent: string) => canonical(Number(base) ** Number(exponent)))
    .replace(/(?<![a-z_.\d])(\d+(?:\.\d+)?)([kmb])\b/g, (_, value: string, suffix: string) => canonical(Number(value) * SCALE[suffix]!))
    .replace(/(\d)\s*(?:percent|per cent|pct)\b/g, '$1%')
    .replace(/(?<![a-z_.\d])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\d.])/g, (n) => canonical(Number(n)))
}

export function expandDescription (text: string): string {
  // train.py's constant names read as words: LEARNING_RATE, MLP_RATIO, DECAY_FRACTION.
  const out = ` ${canonicalNumbers(text.toLowerCase())} `.replace(/->|→|=>/g, ' to ').replace(/=/g, ' to ').replace(/([a-z0-9])_(?=[a-z0-9])/g, '$1 ')
  return applyGlossary(out).replace(/\s+/g, ' ').trim()
}

/** Numbers in order, normalised: 1e-3 = 0.001, 10% = 0.1, 0.1x = 0.1. */
export function numbersIn (expanded: string): number[] {
  const out: number[] = []
  for (const match of expanded.matchAll(/(?<![a-z_])(\d+(?:\.\d+)?(?:e[+-]?\d+)?)(%|x\b)?/g)) {
    const value = Number(match[1])
    out.push(match[2] === '%' ? value / 100 : value)
  }
  return out
}

const NUMBER = String.raw`\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:%|x\b)?`

/**
 * The values a description sets, without the ones it moves away from: "0.04 to 0.06" sets 0.06,
 * "0.5 instead of 1.0" and "from 1.0" set nothing with 1.0. Sorted, so "LR 0.02 and warmup 200"
 * and "warmup 200, LR 0.02" set the same values.
 */
export function targetValues (expanded: string): number[] {
  const kept = expanded
    .replace(new RegExp(String.raw`\b(?:instead of|rather than|replacing|down from|up from|from)\s+${NUMBER}`, 'g'), ' ')
    .replace(new RegExp(String.raw`(?<![a-z_])${NUMBER}(?=\s+to\s+\d)`, 'g'), ' ')
  return numbersIn(kept).sort((a, b) => a - b)
}

/** The same values, whatever their order ("LR 0.02, warmup 200" and "warmup 200 with LR 0.02"). */
const sameValues = (a: number[], b: number[]): boolean => {
  const ua = unique(a)
  const ub = unique(b)
  return ua.length === ub.length && ua.every((x, i) => sameNumber(x, ub[i]!))
}
const unique = (sorted: number[]): number[] => sorted.filter((x, i) => i === 0 || !sameNumber(x, sorted[i - 1]!))

function words (expanded: string): string[] {
  return expanded.split(/[^a-z0-9]+/).filter((w) => w !== '' && !/^\d/.test(w))
}


function direction (expanded: string, numbers: number[]): -1 | 0 | 1 {
  const ws = words(expanded)
  const up = ws.some((w) => UP.has(w))
  const down = ws.some((w) => DOWN.has(w))
  if (up !== down) return up ? 1 : -1
  // "0.04 to 0.06" goes up; with more numbers the pairs are ambiguous (two changes), so no direction.
  if (numbers.length === 2 && / to /.test(` ${expanded} `)) {
    const [from, to] = [numbers[0]!, numbers[1]!]
    if (to !== from) return to > from ? 1 : -1
  }
  return 0
}

const sameNumber = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-12)

export interface SemanticVerdict {
  duplicate: boolean
  /** Cosine of the expanded descriptions. */
  score: number
  /** Why a close pair is still two experiments. */
  guard?: 'numbers' | 'direction' | 'swapped-term'
  /**
   * Neither clearly the same nor clearly different: no guard tells them apart and the cosine is in
   * the grey band (`greyFloor` to `sureAbove`). An agent is a better judge there than a threshold:
   * the agent API hands it the decision (CLAIM_UNCERTAIN, `--distinct-from`).
   */
  grey: boolean
}

export interface SemanticDedupInit {
  /** Cosine at or above which two expanded descriptions may be the same. Default 0.7 (MiniLM paraphrases score ~0.8-0.9, unrelated changes ~0.1-0.4). */
  threshold?: number
  /** Two lone differing terms closer than this are synonyms. Default 0.75. */
  synonymThreshold?: number
  /**
   * The cosine needed when both descriptions name the same target values ("dropout 0.1" and
   * "10% dropout"): a shared number is evidence the embedding cannot weigh. Default 0.6 (pairs
   * that share a value but change different knobs score 0.2-0.55, see test/claims/semantic.spec.ts).
   */
  anchoredThreshold?: number
  /** Vectors kept (least recently used dropped first); 1.5 KiB each. Default 20,000. */
  cacheSize?: number
  /** The grey band, where the verdict is the agent's to confirm: from this cosine (default 0.5, unrelated changes score 0.1-0.4)… */
  greyFloor?: number
  /** …up to this one (default 0.8, where MiniLM's paraphrases begin). */
  sureAbove?: number
}

/** Decides whether two descriptions are the same experiment. */
export class SemanticDedup {
  private readonly threshold: number
  private readonly synonymThreshold: number
  private readonly anchoredThreshold: number
  private readonly cache = new Map<string, Float32Array>()
  private readonly expansions = new Map<string, string>()
  private readonly cacheSize: number
  private readonly greyFloor: number
  private readonly sureAbove: number

  constructor (private readonly embedder: Embedder, init: SemanticDedupInit = {}) {
    this.greyFloor = init.greyFloor ?? 0.5
    this.sureAbove = init.sureAbove ?? 0.8
    this.threshold = init.threshold ?? 0.7
    this.synonymThreshold = init.synonymThreshold ?? 0.75
    this.anchoredThreshold = init.anchoredThreshold ?? 0.6
    this.cacheSize = init.cacheSize ?? 20_000
  }

  /**
   * `targets` are the values a side's structured change sets (its delta's `to` numbers): they
   * stand for that side's target when its words give none ("double the LR" whose code sets 0.02).
   * With `judgeGrey` (a caller that hands the grey band to an agent) pairs down to `greyFloor` go
   * through the guards, so `grey` is set; without it they stop at the rule's thresholds and `grey`
   * is false: the research loop's and the merge's checks do no work for a band they never use.
   */
  async compare (a: string, b: string, targets: { a?: number[], b?: number[] } = {}, options: { judgeGrey?: boolean } = {}): Promise<SemanticVerdict> {
    const judgeGrey = options.judgeGrey === true
    const verdict = await this.judge(a, b, targets, judgeGrey)
    return { ...verdict, grey: judgeGrey && verdict.guard === undefined && verdict.score >= this.greyFloor && verdict.score < this.sureAbove }
  }

  private async judge (a: string, b: string, targets: { a?: number[], b?: number[] }, judgeGrey: boolean): Promise<Omit<SemanticVerdict, 'grey'>> {
    const ea = this.expand(a)
    const eb = this.expand(b)
    const [va, vb] = await this.vectors([ea, eb])
    const score = cosine(va!, vb!)
    if (score < Math.min(this.threshold, this.anchoredThreshold, judgeGrey ? this.greyFloor : Infinity)) return { duplicate: false, score }
    // Different target values are different experiments ("LR to 0.06" vs "LR to 0.08").
    const targetA = targetValues(ea)
    const targetB = targetValues(eb)
    const setA = targetA.length > 0 ? targetA : [...(targets.a ?? [])].sort((x, y) => x - y)
    const setB = targetB.length > 0 ? targetB : [...(targets.b ?? [])].sort((x, y) => x - y)
    const anchored = setA.length > 0 && setB.length > 0
    if (anchored && !sameValues(setA, setB)) return { duplicate: false, score, guard: 'numbers' }
    const na = numbersIn(ea)
    const nb = numbersIn(eb)
    const da = direction(ea, na)
    const db = direction(eb, nb)
    // Opposite directions are different experiments ("double" vs "halve").
    if (da !== 0 && db !== 0 && da !== db) return { duplicate: false, score, guard: 'direction' }
    // Taking a thing out is not setting it to a value ("disable gradient clipping" vs "clip at 0.5"),
    // unless that value is zero ("dropout 0.1 -> 0" is removing dropout).
    const removesA = words(ea).some((w) => REMOVE.has(w))
    const removesB = words(eb).some((w) => REMOVE.has(w))
    if (removesA !== removesB) {
      const values = removesA ? setB : setA
      if (values.length > 0 && values.some((v) => v !== 0)) return { duplicate: false, score, guard: 'direction' }
    }
    // Near-identical wording with one term swapped ("warmup" vs "warmdown", "beta one" vs "beta two"):
    // the swapped terms must mean the same thing.
    // Direction words and generic edit verbs are the direction guard's business, not terms.
    const terms = (e: string): Set<string> => new Set(words(e).filter((w) => !STOP.has(w) && !UP.has(w) && !DOWN.has(w) && !EDIT_VERBS.has(w)))
    const wa = terms(ea)
    const wb = terms(eb)
    const onlyA = [...wa].filter((w) => !wb.has(w))
    const onlyB = [...wb].filter((w) => !wa.has(w))
    if (onlyA.length === 1 && onlyB.length === 1 && contrastingTerms(onlyA[0]!, onlyB[0]!)) return { duplicate: false, score, guard: 'swapped-term' }
    if (onlyA.length > 0 && onlyB.length > 0 && onlyA.length <= 2 && onlyB.length <= 2 && wa.size - onlyA.length >= 2) {
      const [ta, tb] = await this.vectors([onlyA.join(' '), onlyB.join(' ')])
      if (cosine(ta!, tb!) < this.synonymThreshold) return { duplicate: false, score, guard: 'swapped-term' }
    }
    // No guard tells them apart: the cosine decides.
    return { duplicate: score >= (anchored ? this.anchoredThreshold : this.threshold), score }
  }

  /**
   * The values a description (or, when its words name none, its change) sets, as a coarse key:
   * two descriptions whose keys differ are never the same experiment (`compare`'s numbers guard),
   * so an index by this key skips them. Undefined when it sets no value: compare it with everything.
   */
  anchorOf (description: string, targets: number[] = []): string | undefined {
    const own = targetValues(this.expand(description))
    const set = own.length > 0 ? own : [...targets].sort((x, y) => x - y)
    if (set.length === 0) return undefined
    return [...new Set(set.map((x) => x.toPrecision(6)))].join(' ')
  }

  /**
   * Embed descriptions about to be compared in one batch (the embedder runs 32 at a time) rather
   * than one per comparison: the first check against a busy parent embeds its whole history.
   */
  async prepare (descriptions: string[]): Promise<void> {
    await this.vectors(descriptions.map((d) => this.expand(d)))
  }

  /** expandDescription, remembered: a check against a busy parent expands thousands of descriptions. */
  private expand (description: string): string {
    let expanded = this.expansions.get(description)
    if (expanded === undefined) {
      if (this.expansions.size >= this.cacheSize) this.expansions.clear()
      expanded = expandDescription(description)
      this.expansions.set(description, expanded)
    }
    return expanded
  }

  private async vectors (texts: string[]): Promise<Float32Array[]> {
    const found = new Map<string, Float32Array>()
    const missing: string[] = []
    for (const t of new Set(texts)) {
      const v = this.cache.get(t)
      if (v === undefined) {
        missing.push(t)
        continue
      }
      // Least recently used first: a hit moves to the end.
      this.cache.delete(t)
      this.cache.set(t, v)
      found.set(t, v)
    }
    if (missing.length > 0) {
      const vs = await this.embedder.embed(missing)
      missing.forEach((t, i) => { this.cache.set(t, vs[i]!); found.set(t, vs[i]!) })
      for (const oldest of this.cache.keys()) {
        if (this.cache.size <= this.cacheSize) break
        this.cache.delete(oldest)
      }
    }
    return texts.map((t) => found.get(t)!)
  }
}
