import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { changesCode, changeSimilarity, codeChange, NEW_NAME } from '../../src/source/code-change.js'

const BASE = readFileSync(new URL('../../../train/train.py', import.meta.url), 'utf8')

/** `BASE` with one exact piece of text replaced (the test fails loudly if the text moved). */
function edit (source: string, from: string, to: string): string {
  assert.ok(source.includes(from), `train.py no longer has ${JSON.stringify(from)}`)
  return source.replace(from, to)
}

const ROTARY = '        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)\n'
const MLP = '        self.mlp = nn.Sequential(nn.Linear(WIDTH, MLP_RATIO * WIDTH, bias=False), nn.GELU(), nn.Linear(MLP_RATIO * WIDTH, WIDTH, bias=False))\n'
const HEAD = '        self.head = nn.Linear(WIDTH, VOCAB_SIZE, bias=False)\n'

const qkNormOneLine = edit(BASE, ROTARY, `${ROTARY}        q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))\n`)
const qkNormTwoLines = edit(BASE, ROTARY, `${ROTARY}        # QK-norm: unit-RMS queries and keys before the dot product\n        q = torch.nn.functional.rms_norm(q, (q.size(-1), ))\n        k = torch.nn.functional.rms_norm(k, (k.size(-1), ))\n`)
const qkLayerNorm = edit(BASE, ROTARY, `${ROTARY}        q, k = F.layer_norm(q, (q.size(-1),)), F.layer_norm(k, (k.size(-1),))\n`)
const silu = edit(BASE, MLP, MLP.replace('nn.GELU()', 'nn.SiLU()'))
const siluReformatted = edit(BASE, MLP, `        self.mlp = nn.Sequential(
            nn.Linear(WIDTH, MLP_RATIO * WIDTH, bias=False),
            nn.SiLU(),  # swish instead of GELU
            nn.Linear(MLP_RATIO * WIDTH, WIDTH, bias=False),
        )
`)
const relu = edit(BASE, MLP, MLP.replace('nn.GELU()', 'nn.ReLU()'))
const tieHeadToEmbed = edit(BASE, HEAD, `${HEAD}        self.head.weight = self.embed.weight\n`)
const tieEmbedToHead = edit(BASE, HEAD, `${HEAD}        # weight tying\n        self.embed.weight = self.head.weight\n`)

describe('codeChange: what an edit of train.py does', () => {
  it('an edit of constants, comments, docstrings or layout changes no code', () => {
    const constants = edit(BASE, 'LEARNING_RATE = 0.01', 'LEARNING_RATE = 0.02')
    assert.equal(changesCode(codeChange(BASE, constants)), false)
    const words = edit(edit(BASE, 'swarmd experiment: the file agents edit.', 'an edited docstring'), '# transformer blocks', '# blocks of attention + MLP')
    assert.equal(changesCode(codeChange(BASE, words)), false)
    const layout = edit(BASE, '        return x + self.mlp(self.norm2(x))', '        return x+self.mlp( self.norm2(x) )')
    assert.equal(changesCode(codeChange(BASE, layout)), false)
  })

  it('names what the edit adds and removes, calls by their last name', () => {
    assert.deepEqual(codeChange(BASE, silu), { added: ['.SiLU'], removed: ['.GELU'] })
    const change = codeChange(BASE, qkNormOneLine)
    assert.deepEqual(change.removed, [])
    assert.equal(change.added.filter((t) => t === '.rms_norm').length, 2)
    assert.ok(change.added.includes('q') && change.added.includes('k'), 'names the parent uses are kept')
  })

  it('the same change written another way has the same signature', () => {
    assert.equal(changeSimilarity(codeChange(BASE, qkNormOneLine), codeChange(BASE, qkNormTwoLines)), 1, 'one line or two, F or torch.nn.functional, a comment')
    assert.equal(changeSimilarity(codeChange(BASE, silu), codeChange(BASE, siluReformatted)), 1, 'one line or five')
    assert.equal(changeSimilarity(codeChange(BASE, tieHeadToEmbed), codeChange(BASE, tieEmbedToHead)), 1, 'either side of the assignment')
  })

  it('a name the edit invents counts whatever it is called', () => {
    const helper = (name: string): string => edit(BASE, ROTARY, `${ROTARY}        ${name} = q.norm(dim=-1, keepdim=True)\n        q = q / ${name}\n`)
    const a = codeChange(BASE, helper('q_scale'))
    const b = codeChange(BASE, helper('denominator'))
    assert.ok(a.added.includes(NEW_NAME) && a.added.includes('dim=') && a.added.includes('.norm'))
    assert.equal(changeSimilarity(a, b), 1)
  })

  it('numbers count by value', () => {
    const a = edit(BASE, '        self.eps = eps\n', '        self.eps = eps * 1e-4\n')
    const b = edit(BASE, '        self.eps = eps\n', '        self.eps = eps * 0.0001\n')
    assert.equal(changeSimilarity(codeChange(BASE, a), codeChange(BASE, b)), 1)
  })

  it('different changes are told apart', () => {
    const pairs: Array<[string, string, string]> = [
      ['SiLU vs ReLU', silu, relu],
      ['QK-norm vs weight tying', qkNormOneLine, tieHeadToEmbed],
      ['SiLU vs QK-norm', silu, qkNormTwoLines],
      ['SiLU vs SiLU and weight tying', silu, edit(silu, HEAD, `${HEAD}        self.head.weight = self.embed.weight\n`)]
    ]
    for (const [what, a, b] of pairs) assert.ok(changeSimilarity(codeChange(BASE, a), codeChange(BASE, b)) < 0.5, what)
    assert.ok(changeSimilarity(codeChange(BASE, qkNormOneLine), codeChange(BASE, qkLayerNorm)) < 1, 'RMS vs layer norm on q and k')
  })

  it('survives anything as source', () => {
    for (const junk of ['', '"""unterminated', "x = 'unterminated\n", '\\\n\\', '0x', '1e', '😀 = 1', 'a.'.repeat(1000)]) {
      const change = codeChange(BASE, junk)
      assert.ok(change.added.length <= 256 && change.removed.length <= 256)
      codeChange(junk, BASE)
    }
  })
})
