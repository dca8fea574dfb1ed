import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GLOSSARY } from '../../src/claims/glossary.js'
import { expandDescription } from '../../src/claims/semantic.js'

describe('the glossary of the field\'s terms (data)', () => {
  it('reads every term as its meaning, alone and inside a description, also written with _ or -', () => {
    for (const { means, terms } of GLOSSARY) {
      for (const term of terms) {
        assert.equal(expandDescription(term), means, `"${term}"`)
        assert.equal(expandDescription(`try ${term} here`), `try ${means} here`, `"${term}" in a sentence`)
        if (term.includes(' ')) assert.equal(expandDescription(term.replace(/ /g, '_').toUpperCase()), means, `"${term}" as a constant name`)
      }
    }
  })

  it('leaves every meaning as it is: expanding twice changes nothing', () => {
    for (const { means } of GLOSSARY) assert.equal(expandDescription(means), means, means)
    const sample = 'Swap LayerNorm for RMSNorm, use GQA with 2 kv heads, tie embeddings and set the LR to 3e-4'
    assert.equal(expandDescription(expandDescription(sample)), expandDescription(sample))
  })

  it('lists each term once, in lower case, and never a term that is another entry\'s meaning', () => {
    const seen = new Map<string, string>()
    const meanings = new Set(GLOSSARY.map((e) => e.means))
    for (const { means, terms } of GLOSSARY) {
      for (const term of terms) {
        assert.equal(term, term.toLowerCase(), term)
        assert.ok(!seen.has(term), `"${term}" is listed for "${seen.get(term) ?? ''}" and "${means}"`)
        assert.ok(!meanings.has(term), `"${term}" is a meaning itself`)
        seen.set(term, means)
      }
    }
  })

  it('matches whole words only: a term inside another word is left alone', () => {
    assert.equal(expandDescription('elroy and prompt'), 'elroy and prompt')
    assert.equal(expandDescription('gqattention'), 'gqattention')
  })
})
