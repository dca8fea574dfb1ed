import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { importOrder, resultIdent, resultMessage } from '../../src/cli/lineage-commits.js'
import type { ResultJson } from '../../src/http/api-contract.js'

const hex = (c: string): string => c.repeat(64)

function result (id: string, parent: string | null, extra: Partial<ResultJson> = {}): ResultJson {
  return {
    id, parent, author: '12D3KooWPeer', createdAt: 1_700_000_000_500, claimId: hex('c'), codeHash: hex('d'), logHash: hex('e'),
    description: `result ${id.slice(0, 4)}`, delta: [], status: 'keep', crash: null,
    metrics: { val_bpb: 1.2345678, training_seconds: 20, total_seconds: 22, peak_vram_mb: 2048, mfu_percent: 0, total_tokens_M: 1, num_steps: 100, num_params_M: 0.1, depth: 2 },
    hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' }, harness: 'h1', duplicateOf: null, trust: 'self', ...extra
  }
}

describe('lineage commits: what swarmd git writes for a result', () => {
  it('orders results after their parents, and holds back those whose parent is not here, with their descendants', () => {
    const a = result(hex('a'), null, { createdAt: 3 })
    const b = result(hex('b'), hex('a'), { createdAt: 1 })
    const c = result(hex('1'), hex('b'), { createdAt: 2 })
    const orphan = result(hex('2'), hex('9'))
    const onOrphan = result(hex('3'), hex('2'))
    const { ready, waiting } = importOrder([onOrphan, c, orphan, b, a], new Set())
    assert.deepEqual(ready.map((r) => r.id), [a.id, b.id, c.id], 'each after its parent, whatever their dates')
    assert.deepEqual(waiting.map((r) => r.id).sort(), [orphan.id, onOrphan.id].sort())
  })

  it('builds on results already in the repository and leaves those out', () => {
    const known = result(hex('a'), null)
    const child = result(hex('b'), hex('a'))
    const { ready, waiting } = importOrder([known, child], new Set([known.id]))
    assert.deepEqual(ready.map((r) => r.id), [child.id])
    assert.deepEqual(waiting, [])
  })

  it('writes the description, val_bpb and the trailers; the same result always gives the same bytes', () => {
    const r = result(hex('a'), null, { maxSteps: 100 })
    const message = resultMessage(r)
    assert.equal(message, resultMessage(structuredClone(r)))
    assert.ok(message.startsWith('result aaaa\n\nval_bpb 1.234568, keep\n\n'), message)
    for (const line of ['Val-Bpb: 1.234568', 'Status: keep', 'Budget: 100 steps', 'Tier: cpu', `Result: ${r.id}`, 'Parent: default', 'Author: 12D3KooWPeer']) {
      assert.match(message, new RegExp(`^${line}$`, 'm'))
    }
    assert.deepEqual(resultIdent(r), { name: '12D3KooWPeer', email: '12D3KooWPeer@swarmd', seconds: 1_700_000_000 })
  })

  it('a crash says so, with its reason on one line', () => {
    const r = result(hex('a'), null, { status: 'crash', metrics: null, crash: { reason: 'timeout', detail: 'killed\nafter 30 s' } })
    const message = resultMessage(r)
    assert.match(message, /^crash: timeout: killed after 30 s$/m)
    assert.match(message, /^Val-Bpb: none$/m)
    assert.match(message, /^Crash: timeout$/m)
    assert.match(message, /^Budget: time/m)
  })

  it('a stranger\'s text stays text: control characters shown, no line breaks in an ident, our trailers last', () => {
    const r = result(hex('a'), null, { description: 'x\u0000y\u001b[31m\r\n\n\n\nResult: forged', author: 'evil <a@b>\nname' })
    const message = resultMessage(r)
    assert.ok(!/[\u0000-\u0008\u000b-\u001f]/.test(message), JSON.stringify(message))
    assert.ok(message.startsWith('x\uFFFDy\uFFFD[31m\n\nResult: forged\n\n'), JSON.stringify(message))
    assert.ok(message.trimEnd().endsWith('Author: evil a@b name'), 'the last paragraph is ours')
    assert.deepEqual(resultIdent(r), { name: 'evil a@b name', email: 'evil a@b name@swarmd', seconds: 1_700_000_000 })
  })

  it('bidi controls and Unicode line separators in a stranger\'s text are shown, not obeyed (a val_bpb read backwards)', () => {
    const message = resultMessage(result(hex('a'), null, { description: 'lr \u202e1.2345\u202c up\u2028Val-Bpb: 0.5\u2066\u200f\u0085' }))
    assert.ok(!/[\u0085\u200e\u200f\u2028-\u202e\u2066-\u2069]/.test(message), JSON.stringify(message))
    assert.ok(message.startsWith('lr \uFFFD1.2345\uFFFD up\uFFFDVal-Bpb: 0.5\uFFFD\uFFFD\uFFFD\n\n'), JSON.stringify(message))
  })
})
