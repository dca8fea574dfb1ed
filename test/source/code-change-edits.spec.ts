import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { applyEdits, parseCodeEdits } from '../../bench/code-edits.js'

// The bench's labelled edits (bench/dedup.ts --code-edits) are exact text of train.py: when train.py
// changes, this fails and names the edit, instead of the bench measuring edits that no longer apply.
const BASE = readFileSync(new URL('../../../train/train.py', import.meta.url), 'utf8')
const EXPERIMENTS = parseCodeEdits(readFileSync(new URL('../../../bench/data/code-edits.json', import.meta.url), 'utf8'))

describe('bench/data/code-edits.json against train/train.py', () => {
  it('holds experiments with several implementations each', () => {
    assert.ok(EXPERIMENTS.length >= 12)
    const names = EXPERIMENTS.map((e) => e.experiment)
    assert.equal(new Set(names).size, names.length, 'experiment names are unique')
  })

  for (const experiment of EXPERIMENTS) {
    it(`${experiment.experiment}: every implementation applies cleanly and changes train.py`, () => {
      experiment.implementations.forEach((impl, k) => {
        const label = `${experiment.experiment} #${k + 1}`
        const edited = applyEdits(BASE, impl.edits, label)
        assert.notEqual(edited, BASE, `${label} changes nothing`)
      })
    })
  }

  it('an edit whose text is missing or ambiguous fails loudly', () => {
    assert.throws(() => applyEdits(BASE, [{ from: 'no such text in train.py', to: '' }]), /occurs 0 times/)
    assert.throws(() => applyEdits(BASE, [{ from: 'self.', to: '' }]), /occurs \d+ times/)
    assert.equal(applyEdits(BASE, [{ from: 'SEED = 1337\n', to: 'SEED = 1\n' }, { from: 'SEED = 1\n', to: 'SEED = $&\n' }]).includes('SEED = $&\n'), true)
  })
})
