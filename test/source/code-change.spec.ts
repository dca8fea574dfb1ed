import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { changesCode, changeSimilarity, codeChange, NEW_NAME, SAME_CODE_CHANGE, sameCodeChange } from '../../src/source/code-change.js'
import type { CodeChange } from '../../src/source/code-change.js'

/** The tokens of a change without its lines' shapes (`~…`, the order of each line's tokens). */
const tokensOf = (change: CodeChange): CodeChange => ({ added: change.added.filter((t) => !t.startsWith('~')), removed: change.removed.filter((t) => !t.startsWith('~')) })

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
    assert.deepEqual(tokensOf(codeChange(BASE, silu)), { added: ['.SiLU'], removed: ['.GELU'] })
    const change = tokensOf(codeChange(BASE, qkNormOneLine))
    assert.deepEqual(change.removed, [])
    assert.equal(change.added.filter((t) => t === '.rms_norm').length, 2)
    assert.ok(change.added.includes('q') && change.added.includes('k'), 'names the parent uses are kept')
  })

  it('the same change written another way is the same change', () => {
    assert.equal(changeSimilarity(codeChange(BASE, silu), codeChange(BASE, siluReformatted)), 1, 'one logical line or five physical ones')
    for (const [what, a, b] of [['one line or two, F or torch.nn.functional, a comment', qkNormOneLine, qkNormTwoLines], ['either side of the assignment', tieHeadToEmbed, tieEmbedToHead]] as const) {
      const verdict = sameCodeChange(codeChange(BASE, a), codeChange(BASE, b))
      assert.ok(verdict.same && verdict.score >= SAME_CODE_CHANGE && verdict.score < 1, `${what}: ${verdict.score}`)
    }
  })

  it('order counts: the same tokens in another order are a change, and another one', () => {
    const postNorm = edit(BASE, '        x = x + self.attn(self.norm1(x), cos, sin)\n', '        x = self.norm1(x + self.attn(x, cos, sin))\n')
    const change = codeChange(BASE, postNorm)
    assert.ok(changesCode(change), 'post-norm is not "no change"')
    assert.deepEqual(tokensOf(change), { added: [], removed: [] }, 'the same tokens, only reordered')
    assert.equal(sameCodeChange(change, codeChange(BASE, BASE)).same, false)
  })

  it('a method of an expression counts (`f(x).square()`)', () => {
    const a = codeChange(BASE, edit(BASE, '        return x + self.mlp(self.norm2(x))', '        return x + self.mlp(self.norm2(x)).tanh()'))
    assert.ok(tokensOf(a).added.includes('.tanh'), JSON.stringify(a))
  })

  it('a swap of one specific thing is another experiment, however much else the two share', () => {
    const mlpClass = (activation: string): string => edit(BASE, MLP, `        self.mlp = FeedForward()\n`).replace('class Block(nn.Module):', `class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(WIDTH, MLP_RATIO * WIDTH, bias=False)
        self.down = nn.Linear(MLP_RATIO * WIDTH, WIDTH, bias=False)

    def forward(self, x):
        return self.down(F.${activation}(self.up(x)))


class Block(nn.Module):`)
    const siluClass = codeChange(BASE, mlpClass('silu'))
    const reluClass = codeChange(BASE, mlpClass('relu'))
    const verdict = sameCodeChange(siluClass, reluClass)
    assert.ok(verdict.score >= SAME_CODE_CHANGE, `alike by the tokens: ${verdict.score}`)
    assert.equal(verdict.same, false, 'but silu where the other has relu')
    const squared = codeChange(BASE, mlpClass('relu').replace('F.relu(self.up(x))', 'F.relu(self.up(x)).square()'))
    assert.equal(sameCodeChange(squared, reluClass).same, false, 'relu squared is relu and more')
    assert.equal(sameCodeChange(siluClass, codeChange(BASE, mlpClass('silu').replace('self.up', 'self.fc_in').replace('self.up', 'self.fc_in'))).same, true, 'other names for the same layers')
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
