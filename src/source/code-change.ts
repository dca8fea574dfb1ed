/**
 * What a train.py edit does, as the dedup pipeline compares it (issue 16, point 7): the lines
 * added and removed against the parent, reduced to the identifiers, calls, operations and
 * literals they add or remove. Two agents who make the same change in their own words, with
 * their own variable names, comments and layout, get the same signature; a change that also does
 * something else does not.
 *
 * Normalisation: comments, docstrings (triple-quoted strings), indentation and spacing do not
 * count; module-level constants both files define are the delta's business and left out; a name
 * the edit invents (a new variable, attribute or helper) is one placeholder whatever it is called;
 * a call through an imported module counts by its last name (`F.rms_norm` and
 * `torch.nn.functional.rms_norm` are one `.rms_norm`); keyword arguments count by name; numbers
 * by value (`1e-4` = `0.0001`).
 */
import { sha256Hex } from '../util/hash.js'
import { parseConstants } from './train-constants.js'

/** Tokens the edit adds and removes, net, each list sorted (a token repeats as often as it is added). */
export interface CodeChange {
  added: string[]
  removed: string[]
}

/** Tokens kept per side in a record: a larger rewrite keeps its first ones in sorted order. */
export const MAX_CHANGE_TOKENS = 256
/** Longest token kept (a long string literal is cut). */
export const MAX_TOKEN_LENGTH = 100

/** A name the edit invented: counts as one kind of thing, whatever the agent called it. */
export const NEW_NAME = '<new>'

const KEYWORDS = new Set(('False None True and as assert async await break class continue def del elif else except finally for from ' +
  'global if import in is lambda nonlocal not or pass raise return try while with yield').split(' '))
const BUILTINS = new Set(('abs all any bool dict enumerate float getattr hasattr int isinstance iter len list map max min next ' +
  'object print range reversed round set setattr slice sorted str sum super tuple type zip').split(' '))
const OPERATORS = ['**=', '//=', '>>=', '<<=', '**', '//', '==', '!=', '<=', '>=', '->', '+=', '-=', '*=', '/=', '@=', '%=', '&=', '|=', '^=', '<<', '>>',
  '+', '-', '*', '/', '%', '@', '<', '>', '&', '|', '^', '~']
// Punctuation carries no meaning of its own once lines are compared token by token.
const PUNCTUATION = new Set(['(', ')', '[', ']', '{', '}', ',', ':', ';', '=', '.'])

type RawToken = { kind: 'name' | 'number' | 'string' | 'op' | 'punct', text: string }
/** A logical line: its tokens and the physical line (0-based) it starts on. */
interface LogicalLine { start: number, tokens: RawToken[] }

/**
 * The tokens of each logical line (a bracket left open or a backslash continues it), comments and
 * triple-quoted strings dropped.
 */
function tokenizeLines (source: string): LogicalLine[] {
  const lines: LogicalLine[] = [{ start: 0, tokens: [] }]
  let physical = 0
  let i = 0
  let depth = 0
  let continued = false
  const newline = (): void => {
    physical++
    if (depth === 0 && !continued) lines.push({ start: physical, tokens: [] })
    continued = false
  }
  const push = (token: RawToken): void => { lines[lines.length - 1]!.tokens.push(token) }
  while (i < source.length) {
    const ch = source[i]!
    if (ch === '\n') { newline(); i++; continue }
    if (ch === '\\') { continued = true; i++; continue }
    if (ch === ' ' || ch === '\t' || ch === '\r') { i++; continue }
    if (ch === '#') { while (i < source.length && source[i] !== '\n') i++; continue }
    const prefixed = /^[rRbBuUfF]{0,2}("""|'''|"|')/.exec(source.slice(i, i + 5))
    if (prefixed !== null && (prefixed[0].length === prefixed[1]!.length || !/[A-Za-z0-9_]/.test(source[i - 1] ?? ''))) {
      const quote = prefixed[1]!
      let j = i + prefixed[0].length
      if (quote.length === 3) {
        const end = source.indexOf(quote, j)
        const stop = end < 0 ? source.length : end + 3
        // A docstring or a long text: no operation; its lines still end lines.
        for (let k = i; k < stop; k++) if (source[k] === '\n') newline()
        i = stop
        continue
      }
      let text = ''
      while (j < source.length && source[j] !== quote && source[j] !== '\n') {
        if (source[j] === '\\' && j + 1 < source.length) { text += source.slice(j, j + 2); j += 2; continue }
        text += source[j]; j++
      }
      push({ kind: 'string', text: `'${text.slice(0, MAX_TOKEN_LENGTH - 2)}'` })
      i = source[j] === quote ? j + 1 : j
      continue
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i, i + 200))
    if (name !== null) { push({ kind: 'name', text: name[0] }); i += name[0].length; continue }
    const number = /^(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)[jJ]?/.exec(source.slice(i, i + 100))
    if (number !== null && number[0].length > 0) { push({ kind: 'number', text: numberText(number[0]) }); i += number[0].length; continue }
    const op = OPERATORS.find((o) => source.startsWith(o, i))
    if (op !== undefined) { push({ kind: 'op', text: op }); i += op.length; continue }
    if ('([{'.includes(ch)) depth++
    // An unbalanced closer in broken source must not keep the rest of the file on one line.
    if (')]}'.includes(ch)) depth = Math.max(0, depth - 1)
    push({ kind: 'punct', text: ch })
    i++
  }
  return lines
}

/** One value, one spelling: `1e-4`, `0.0001` and `1_0e-5` are the same number. */
function numberText (literal: string): string {
  const plain = literal.replace(/_/g, '')
  if (/[jJ]$/.test(plain) || /^0[xXbBoO]/.test(plain)) return /^0[xXbBoO]/.test(plain) ? String(Number(plain)) : plain
  const value = Number(plain)
  return Number.isFinite(value) ? String(value) : plain
}

/** A line as the diff compares it: its tokens, one space apart. */
const lineKey = (tokens: RawToken[]): string => tokens.map((t) => t.text).join(' ')

/** Lines of module-level constants both sources define (changed ones are the delta, the rest equal). */
function sharedConstantLines (source: string, other: string): Set<number> {
  const otherNames = new Set(parseConstants(other).map((c) => c.name))
  return new Set(parseConstants(source).filter((c) => otherNames.has(c.name)).map((c) => c.line))
}

/**
 * Names the parent defines or uses (what an edit refers to rather than invents), and the names
 * either file imports (a module or a thing from one: its calls count by their last name).
 */
function knownNames (parent: LogicalLine[], child: LogicalLine[]): { names: Set<string>, modules: Set<string> } {
  const names = new Set<string>()
  const modules = new Set<string>()
  for (const line of parent) for (const token of line.tokens) if (token.kind === 'name') names.add(token.text)
  for (const { tokens: line } of [...parent, ...child]) {
    // `import a.b as c, d` binds c and d; `from a import b as c, d` binds c and d.
    const words = line.map((t) => t.text)
    const start = words[0] === 'import' ? 1 : words[0] === 'from' ? words.indexOf('import') + 1 : 0
    if (start === 0) continue
    for (const segment of words.slice(start).join(' ').split(',')) {
      const parts = segment.replace(/[()]/g, ' ').trim().split(/\s+/)
      const bound = parts.includes('as') ? parts[parts.indexOf('as') + 1] : parts[0]
      if (bound !== undefined && /^[A-Za-z_]\w*$/.test(bound)) modules.add(bound)
    }
  }
  return { names, modules }
}

/** Marks a line's shape token (see `lineShape`). */
const SHAPE = '~'

/**
 * A line's shape: its meaningful tokens and brackets in order, hashed. Tokens alone are a bag,
 * blind to order (`norm(x + f(x))` against `x + f(norm(x))`, post-norm against pre-norm); the
 * shape tells such lines apart, and two agents who write one line alike share it.
 */
function lineShape (line: RawToken[], tokens: string[]): string {
  const brackets = line.filter((t) => t.kind === 'punct' && '()[]'.includes(t.text)).map((t) => t.text).join('')
  return `${SHAPE}${sha256Hex(`${tokens.join(' ')}|${brackets}`).slice(0, 12)}`
}

/** The meaningful tokens of one line: chains of names collapsed, invented names made anonymous. */
function meaningfulTokens (line: RawToken[], known: { names: Set<string>, modules: Set<string> }): string[] {
  const out: string[] = []
  let depth = 0
  for (let k = 0; k < line.length; k++) {
    const token = line[k]!
    if (token.kind === 'punct') {
      if ('([{'.includes(token.text)) depth++
      if (')]}'.includes(token.text)) depth = Math.max(0, depth - 1)
      continue
    }
    if (token.kind !== 'name') { out.push(token.text); continue }
    // A method of what an expression returns (`f(x).square()`): an API name, as in a chain.
    if (line[k - 1]?.text === '.') { out.push(`.${token.text}`); continue }
    // A keyword argument counts by its name (`dim=`): it is the callee's vocabulary.
    if (depth > 0 && line[k + 1]?.text === '=' && (line[k - 1]?.text === '(' || line[k - 1]?.text === ',')) { out.push(`${token.text}=`); continue }
    const chain = [token.text]
    while (line[k + 1]?.text === '.' && line[k + 2]?.kind === 'name') { chain.push(line[k + 2]!.text); k += 2 }
    const [root, ...rest] = chain
    if (KEYWORDS.has(root!) || BUILTINS.has(root!)) out.push(root!)
    else if (known.modules.has(root!)) { out.push(rest.length > 0 ? `.${rest[rest.length - 1]!}` : root!); continue }
    else out.push(known.names.has(root!) ? root! : NEW_NAME)
    // `self.x`: a field of the model, its own name or an invented one; `x.size()`: an API name.
    for (const part of rest) out.push(root === 'self' && !known.names.has(part) ? `.${NEW_NAME}` : `.${part}`)
  }
  return out
}

function countsOf (lines: string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1)
  return counts
}

/** The net tokens `after` adds to and removes from `before`. */
export function codeChange (before: string, after: string): CodeChange {
  const beforeLines = tokenizeLines(before)
  const afterLines = tokenizeLines(after)
  const skipBefore = sharedConstantLines(before, after)
  const skipAfter = sharedConstantLines(after, before)
  const keep = (lines: LogicalLine[], skip: Set<number>): Array<{ key: string, tokens: RawToken[] }> =>
    lines.flatMap(({ start, tokens }) => skip.has(start) || tokens.length === 0 ? [] : [{ key: lineKey(tokens), tokens }])
  const oldLines = keep(beforeLines, skipBefore)
  const newLines = keep(afterLines, skipAfter)
  const known = knownNames(beforeLines, afterLines)
  // A multiset diff of lines: moving a line or re-indenting a block changes nothing.
  const oldCounts = countsOf(oldLines.map((l) => l.key))
  const newCounts = countsOf(newLines.map((l) => l.key))
  const net = new Map<string, number>()
  const take = (lines: Array<{ key: string, tokens: RawToken[] }>, counts: Map<string, number>, other: Map<string, number>, sign: number): void => {
    const left = new Map<string, number>()
    for (const [key, n] of counts) left.set(key, n - (other.get(key) ?? 0))
    for (const line of lines) {
      if ((left.get(line.key) ?? 0) <= 0) continue
      left.set(line.key, left.get(line.key)! - 1)
      const tokens = meaningfulTokens(line.tokens, known)
      for (const token of [...tokens, lineShape(line.tokens, tokens)]) net.set(token, (net.get(token) ?? 0) + sign)
    }
  }
  take(newLines, newCounts, oldCounts, 1)
  take(oldLines, oldCounts, newCounts, -1)
  const added: string[] = []
  const removed: string[] = []
  for (const [token, n] of net) {
    for (let r = 0; r < Math.abs(n); r++) (n > 0 ? added : removed).push(token.slice(0, MAX_TOKEN_LENGTH))
  }
  const order = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
  return { added: added.sort(order).slice(0, MAX_CHANGE_TOKENS), removed: removed.sort(order).slice(0, MAX_CHANGE_TOKENS) }
}

/** Whether the edit does anything beyond its constants (and comments, layout). */
export const changesCode = (change: CodeChange): boolean => change.added.length > 0 || change.removed.length > 0

// An invented name says little (every edit has some), a line's shape only what the tokens do not
// (their order); everything else counts fully.
const weightOf = (token: string): number => token === NEW_NAME || token === `.${NEW_NAME}` || token.startsWith(SHAPE) ? 0.25 : 1

/**
 * How alike two edits of one parent are, 0 (nothing in common) to 1 (the same tokens added and
 * removed as often): a weighted Jaccard over signed tokens. Two edits that change no code are alike.
 */
export function changeSimilarity (a: CodeChange, b: CodeChange): number {
  const signed = (change: CodeChange): Map<string, number> => {
    const counts = new Map<string, number>()
    for (const t of change.added) counts.set(`+${t}`, (counts.get(`+${t}`) ?? 0) + 1)
    for (const t of change.removed) counts.set(`-${t}`, (counts.get(`-${t}`) ?? 0) + 1)
    return counts
  }
  const left = signed(a)
  const right = signed(b)
  let shared = 0
  let total = 0
  for (const key of new Set([...left.keys(), ...right.keys()])) {
    const w = weightOf(key.slice(1))
    const l = left.get(key) ?? 0
    const r = right.get(key) ?? 0
    shared += w * Math.min(l, r)
    total += w * Math.max(l, r)
  }
  return total === 0 ? 1 : shared / total
}

/**
 * Two code changes at least this alike on one parent, with one delta, are the same experiment:
 * the same calls, names and operations added and removed, written in other words, layout or
 * variable names. Below it the descriptions decide (the semantic layer).
 */
export const SAME_CODE_CHANGE = 0.9

/** A token that names one specific thing: an API name, a literal, a keyword argument. */
function specific (token: string): boolean {
  return (token.startsWith('.') && token !== `.${NEW_NAME}`) || /^[0-9'.]/.test(token) || token.endsWith('=')
}

/** The specific signed tokens `a` has more of than `b`. */
function specificSurplus (a: CodeChange, b: CodeChange): Set<string> {
  const counts = new Map<string, number>()
  for (const t of a.added) counts.set(`+${t}`, (counts.get(`+${t}`) ?? 0) + 1)
  for (const t of a.removed) counts.set(`-${t}`, (counts.get(`-${t}`) ?? 0) + 1)
  for (const t of b.added) counts.set(`+${t}`, (counts.get(`+${t}`) ?? 0) - 1)
  for (const t of b.removed) counts.set(`-${t}`, (counts.get(`-${t}`) ?? 0) - 1)
  return new Set([...counts].filter(([key, n]) => n > 0 && specific(key.slice(1))).map(([key]) => key))
}

/**
 * Whether two code changes of one parent are the same experiment: alike to `SAME_CODE_CHANGE`,
 * and the same specific things (API names, literals, keyword arguments) added and removed as
 * often. One that does something specific the other does not is another experiment however much
 * boilerplate they share: SiLU in a new module class against ReLU in the same class, ReLU
 * squared against ReLU, a cap of 15 against 30, RMS norm against layer norm.
 */
export function sameCodeChange (a: CodeChange, b: CodeChange): { same: boolean, score: number } {
  const score = changeSimilarity(a, b)
  const differs = specificSurplus(a, b).size > 0 || specificSurplus(b, a).size > 0
  return { same: score >= SAME_CODE_CHANGE && !differs, score }
}
