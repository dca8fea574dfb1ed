/**
 * The labelled code edits of `bench/data/code-edits.json`: experiments on train/train.py, each
 * written several ways as different agents would. Read by `bench/dedup.ts --code-edits` and by the
 * spec that keeps the data applicable to the current train.py.
 */
import { readFile } from 'node:fs/promises'

/** One replacement: `from` must occur exactly once in the source at the time it is applied. */
export interface TextEdit { from: string, to: string }

/** One way of writing an experiment: what its agent would say, and what it would change. */
export interface Implementation { description: string, edits: TextEdit[] }

/** One idea; its implementations are duplicates of each other and of nothing else. */
export interface Experiment { experiment: string, implementations: Implementation[] }

/** An implementation applied: its source and where it came from. */
export interface AppliedImplementation {
  experiment: string
  /** 1-based position within its experiment. */
  index: number
  description: string
  source: string
}

const isString = (value: unknown): value is string => typeof value === 'string'

function checkEdit (value: unknown, where: string): TextEdit {
  const edit = value as Partial<TextEdit> | null
  if (edit === null || typeof edit !== 'object' || !isString(edit.from) || !isString(edit.to) || edit.from === '') {
    throw new Error(`${where}: an edit needs a non-empty "from" and a "to" string`)
  }
  return { from: edit.from, to: edit.to }
}

function checkImplementation (value: unknown, where: string): Implementation {
  const impl = value as Partial<Implementation> | null
  if (impl === null || typeof impl !== 'object' || !isString(impl.description) || !Array.isArray(impl.edits) || impl.edits.length === 0) {
    throw new Error(`${where}: an implementation needs a "description" and a non-empty "edits" list`)
  }
  return { description: impl.description, edits: impl.edits.map((e, k) => checkEdit(e, `${where} edit ${k + 1}`)) }
}

/** The experiments in `json`, shape-checked (a malformed file fails here, not halfway through a run). */
export function parseCodeEdits (json: string): Experiment[] {
  const data: unknown = JSON.parse(json)
  if (!Array.isArray(data)) throw new Error('code edits: expected a JSON list of experiments')
  return data.map((value: unknown, i) => {
    const exp = value as Partial<Experiment> | null
    if (exp === null || typeof exp !== 'object' || !isString(exp.experiment) || !Array.isArray(exp.implementations) || exp.implementations.length < 2) {
      throw new Error(`code edits: experiment ${i + 1} needs an "experiment" name and at least two implementations`)
    }
    const name = exp.experiment
    return { experiment: name, implementations: exp.implementations.map((impl, k) => checkImplementation(impl, `${name} #${k + 1}`)) }
  })
}

export async function loadCodeEdits (path: string): Promise<Experiment[]> {
  return parseCodeEdits(await readFile(path, 'utf8'))
}

function occurrences (text: string, piece: string): number {
  let count = 0
  for (let at = text.indexOf(piece); at >= 0; at = text.indexOf(piece, at + 1)) count++
  return count
}

/**
 * `source` with the edits applied in order. Throws when a `from` is missing or ambiguous: data
 * that no longer matches train.py must fail loudly rather than measure some other edit.
 */
export function applyEdits (source: string, edits: TextEdit[], label = 'edit'): string {
  return edits.reduce((text, edit, k) => {
    const found = occurrences(text, edit.from)
    if (found !== 1) throw new Error(`${label}, edit ${k + 1}: "from" occurs ${found} times (must be once): ${JSON.stringify(edit.from.slice(0, 120))}`)
    // A function replacement: `$&` and friends in the new text stay literal.
    return text.replace(edit.from, () => edit.to)
  }, source)
}

/** Every implementation of every experiment applied to `base`, in file order. */
export function applyAll (base: string, experiments: Experiment[]): AppliedImplementation[] {
  return experiments.flatMap((exp) => exp.implementations.map((impl, k) => ({
    experiment: exp.experiment,
    index: k + 1,
    description: impl.description,
    source: applyEdits(base, impl.edits, `${exp.experiment} #${k + 1}`)
  })))
}
