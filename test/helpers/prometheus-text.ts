/**
 * A strict parser of Prometheus' text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): it throws, naming the line, on
 * anything a Prometheus server would refuse. No maintained npm package parses this format
 * (prom-client only writes it), so the grammar is checked here, line by line:
 * - `# HELP name text` and `# TYPE name counter|gauge|histogram|summary|untyped`, at most one of
 *   each per family, TYPE before the family's first sample; other `#` lines are comments;
 * - `name{label="value",...} value [timestamp]` with valid metric and label names, label values
 *   escaped (`\\`, `\"`, `\n` only), no label twice, values floats as Go's ParseFloat reads them;
 * - a family's samples contiguous, no series twice; a histogram's `_bucket`s cumulative with an
 *   `le="+Inf"` bucket equal to its `_count`.
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
  help: string | undefined
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export function parsePrometheusText (text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const closed = new Set<string>()
  const series = new Set<string>()
  const typed = new Set<string>()
  let current: string | undefined
  const lines = text.split('\n')
  if (lines.at(-1) !== '') throw new Error('the text must end with a line feed')
  lines.forEach((line, index) => {
    const at = `line ${index + 1} (${JSON.stringify(line.slice(0, 120))})`
    if (line === '') return
    const family = (name: string): Family => {
      let f = families.get(name)
      if (f === undefined) {
        f = { name, type: 'untyped', help: undefined, samples: [] }
        families.set(name, f)
      }
      return f
    }
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) return
      const [, keyword, name, rest] = m as unknown as [string, string, string, string]
      if (!METRIC_NAME.test(name)) throw new Error(`${at}: bad metric name`)
      const f = family(name)
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new Error(`${at}: a second HELP for ${name}`)
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${at}: bad escape in HELP`)
        f.help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'))
      } else {
        if (!TYPES.has(rest)) throw new Error(`${at}: unknown type ${rest}`)
        if (f.samples.length > 0 || typed.has(name)) throw new Error(`${at}: TYPE for ${name} after its samples or twice`)
        f.type = rest as Family['type']
        typed.add(name)
      }
      return
    }
    const sample = parseSample(line, at)
    const owner = familyOf(sample.name, families)
    const f = family(owner)
    if (current !== owner) {
      if (current !== undefined) closed.add(current)
      if (closed.has(owner)) throw new Error(`${at}: samples of ${owner} are not contiguous`)
      current = owner
    }
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`
    if (series.has(key)) throw new Error(`${at}: series ${key} twice`)
    series.add(key)
    f.samples.push(sample)
  })
  for (const f of families.values()) {
    if (f.type === 'histogram') checkHistogram(f)
  }
  return families
}

/** `x_bucket`, `x_sum`, `x_count` belong to a histogram or summary `x` when one is declared. */
function familyOf (name: string, families: Map<string, Family>): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name)
  if (m !== null) {
    const base = families.get(m[1]!)
    if (base !== undefined && (base.type === 'histogram' || base.type === 'summary')) return m[1]!
  }
  return name
}

function parseSample (line: string, at: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(line)
  if (m === null) throw new Error(`${at}: no metric name`)
  const name = m[1]!
  let i = name.length
  const labels: Record<string, string> = {}
  if (m[2] !== undefined) {
    i++
    for (;;) {
      if (line[i] === '}') { i++; break }
      const ln = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i))
      if (ln === null || !LABEL_NAME.test(ln[1]!)) throw new Error(`${at}: bad label at column ${i + 1}`)
      i += ln[0].length
      let value = ''
      for (;;) {
        const c = line[i]
        if (c === undefined) throw new Error(`${at}: unterminated label value`)
        if (c === '"') { i++; break }
        if (c === '\\') {
          const e = line[i + 1]
          if (e === '\\') value += '\\'
          else if (e === '"') value += '"'
          else if (e === 'n') value += '\n'
          else throw new Error(`${at}: bad escape \\${e ?? ''} in a label value`)
          i += 2
          continue
        }
        value += c
        i++
      }
      if (ln[1]! in labels) throw new Error(`${at}: label ${ln[1]!} twice`)
      labels[ln[1]!] = value
      if (line[i] === ',') { i++; continue }
      if (line[i] === '}') { i++; break }
      throw new Error(`${at}: expected , or } at column ${i + 1}`)
    }
  }
  const rest = line.slice(i)
  const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest)
  if (vm === null) throw new Error(`${at}: expected " value [timestamp]"`)
  return { name, labels, value: parseValue(vm[1]!, at) }
}

/** A value as Go's strconv.ParseFloat reads it (what the format specifies): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue (text: string, at: string): number {
  if (/^nan$/i.test(text)) return NaN
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity
  if (/^-inf(inity)?$/i.test(text)) return -Infinity
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${at}: bad value ${text}`)
  return Number(text)
}

function checkHistogram (f: Family): void {
  const groups = new Map<string, Sample[]>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    groups.set(key, [...(groups.get(key) ?? []), s])
  }
  for (const [key, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${f.name}_bucket`)
    const count = samples.find((s) => s.name === `${f.name}_count`)
    if (buckets.some((b) => b.labels.le === undefined)) throw new Error(`${f.name}${key}: a bucket without le`)
    const sorted = [...buckets].sort((a, b) => parseValue(a.labels.le!, f.name) - parseValue(b.labels.le!, f.name))
    for (let i = 1; i < sorted.length; i++) if (sorted[i]!.value < sorted[i - 1]!.value) throw new Error(`${f.name}${key}: buckets not cumulative`)
    const inf = buckets.find((b) => b.labels.le === '+Inf')
    if (inf === undefined || count === undefined || inf.value !== count.value) throw new Error(`${f.name}${key}: the +Inf bucket must equal _count`)
    if (samples.find((s) => s.name === `${f.name}_sum`) === undefined) throw new Error(`${f.name}${key}: no _sum`)
  }
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when none. */
export function sampleValue (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
    }
  }
  return undefined
}

/** The sum over every sample of `name` whose labels include `labels` (0 when none). */
export function sampleSum (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value
    }
  }
  return sum
}
