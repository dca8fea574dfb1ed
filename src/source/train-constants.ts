/**
 * train.py's module-level constants (`NAME = literal` lines): read and changed by the proposers,
 * diffed by the claims and the agent API, read by the scripted runner. Below all of them.
 */
import type { DeltaEntry } from '../state/record-kinds.js'

export type ConstantValue = number | string | boolean

/** A module-level `NAME = literal` line of train.py. */
export interface ModuleConstant {
  name: string
  value: ConstantValue
  kind: 'int' | 'float' | 'string' | 'bool'
  /** 0-based line index in the source. */
  line: number
}

const ASSIGNMENT = /^([A-Z][A-Z0-9_]*)\s*=\s*(.+?)\s*(#.*)?$/

function parseLiteral (text: string): Pick<ModuleConstant, 'value' | 'kind'> | undefined {
  if (text === 'True' || text === 'False') return { value: text === 'True', kind: 'bool' }
  const quoted = /^(['"])(.*)\1$/.exec(text)
  if (quoted !== null && !quoted[2]!.includes(quoted[1]!)) return { value: quoted[2]!, kind: 'string' }
  if (/^[+-]?\d+$/.test(text)) return { value: Number(text), kind: 'int' }
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)$/.test(text)) return { value: Number(text), kind: 'float' }
  return undefined
}

/** The top-level constants of a train.py (unindented `NAME = literal` lines). */
export function parseConstants (source: string): ModuleConstant[] {
  const out: ModuleConstant[] = []
  const seen = new Set<string>()
  source.split('\n').forEach((lineText, line) => {
    const match = ASSIGNMENT.exec(lineText)
    if (match === null || seen.has(match[1]!)) return
    const literal = parseLiteral(match[2]!)
    if (literal === undefined) return
    seen.add(match[1]!)
    out.push({ name: match[1]!, line, ...literal })
  })
  return out
}

/** Python source text for a value of the given kind. */
export function formatValue (value: ConstantValue, kind: ModuleConstant['kind']): string {
  if (kind === 'bool') return value === true ? 'True' : 'False'
  if (kind === 'string') return JSON.stringify(String(value))
  if (kind === 'int') return String(Math.round(Number(value)))
  const text = String(Number(value))
  return /[.eE]/.test(text) ? text : `${text}.0`
}

/** Rewrite the constants a delta names; refuses names the source does not define. */
export function applyDelta (source: string, delta: DeltaEntry[]): string {
  const lines = source.split('\n')
  const constants = new Map(parseConstants(source).map((c) => [c.name, c]))
  for (const entry of delta) {
    const constant = constants.get(entry.name)
    if (constant === undefined) throw new Error(`train.py has no module-level constant ${entry.name}`)
    const match = ASSIGNMENT.exec(lines[constant.line]!)!
    const comment = match[3] !== undefined ? `  ${match[3]}` : ''
    lines[constant.line] = `${entry.name} = ${formatValue(entry.to as ConstantValue, constant.kind)}${comment}`
  }
  return lines.join('\n')
}

/** Which constants changed from `before` to `after`. */
export function diffConstants (before: string, after: string): DeltaEntry[] {
  const old = new Map(parseConstants(before).map((c) => [c.name, c.value]))
  const delta: DeltaEntry[] = []
  for (const c of parseConstants(after)) {
    const from = old.get(c.name)
    if (from !== undefined && from !== c.value) delta.push({ name: c.name, from, to: c.value })
  }
  return delta
}
