import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { canonicalJson } from '../../src/state/canonical.js'
import { MAX_EVIDENCE_BYTES, MAX_JSON_VALUES, MAX_RECORD_BYTES, RecordError, parseRecord, signRecord } from '../../src/state/records.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { sha256Hex } from '../../src/util/hash.js'

const slot = { client: 7, clock: 1 }

async function faultOf (text: string): Promise<string> {
  try {
    await parseRecord(text)
  } catch (err) {
    assert.ok(err instanceof RecordError, `expected RecordError, got ${String(err)}`)
    return err.fault
  }
  assert.fail('record was accepted')
}

describe('canonical JSON', () => {
  it('orders keys and normalises numbers (RFC 8785)', () => {
    assert.equal(canonicalJson({ b: 1, a: [1e21, 0.1, 'x'], c: { z: null, y: true } }), '{"a":[1e+21,0.1,"x"],"b":1,"c":{"y":true,"z":null}}')
  })
  it('gives the same text for the same value built in another order', () => {
    assert.equal(canonicalJson({ x: 1, y: { b: 2, a: 1 } }), canonicalJson({ y: { a: 1, b: 2 }, x: 1 }))
  })
})

describe('signed records', () => {
  it('round-trips: a signed record parses back to the same content and address', async () => {
    const me = await generateIdentity()
    const rec = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'hypothesis', body: { title: 'RoPE', text: 'rotary' }, createdAt: 1, slot })
    const back = await parseRecord(rec.text)
    assert.deepEqual(back.record, rec.record)
    assert.equal(back.id, sha256Hex(rec.text))
    assert.equal(back.key, `${me.peerId.toString()}/${rec.id}`)
  })

  it('detects a tampered body', async () => {
    const me = await generateIdentity()
    const rec = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'hypothesis', body: { title: 'LR 0.04', text: '' }, createdAt: 1, slot })
    const tampered = canonicalJson({ ...rec.record, body: { title: 'LR 0.08', text: '' } })
    assert.equal(await faultOf(tampered), 'RECORD_BAD_SIGNATURE')
  })

  it('detects a record claimed by another author', async () => {
    const me = await generateIdentity()
    const other = await generateIdentity()
    const rec = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'hypothesis', body: { title: 't', text: '' }, createdAt: 1, slot })
    assert.equal(await faultOf(canonicalJson({ ...rec.record, author: other.peerId.toString() })), 'RECORD_BAD_SIGNATURE')
  })

  it('detects a tampered slot (a replay elsewhere)', async () => {
    const me = await generateIdentity()
    const rec = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'hypothesis', body: { title: 't', text: '' }, createdAt: 1, slot })
    assert.equal(await faultOf(canonicalJson({ ...rec.record, slot: { client: 7, clock: 2 } })), 'RECORD_BAD_SIGNATURE')
  })

  it('refuses non-canonical text even with a valid signature', async () => {
    const me = await generateIdentity()
    const rec = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'hypothesis', body: { title: 't', text: '' }, createdAt: 1, slot })
    assert.equal(await faultOf(JSON.stringify(rec.record, null, 1)), 'RECORD_NOT_CANONICAL')
  })

  it('refuses garbage, bad authors, bad bodies and oversize text', async () => {
    const me = await generateIdentity()
    assert.equal(await faultOf('{not json'), 'RECORD_NOT_JSON')
    assert.equal(await faultOf(canonicalJson({ v: 2 })), 'RECORD_MALFORMED')
    const rec = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'hypothesis', body: { title: 't', text: '' }, createdAt: 1, slot })
    assert.equal(await faultOf(canonicalJson({ ...rec.record, author: 'not-a-peer' })), 'RECORD_BAD_AUTHOR')
    assert.equal(await faultOf(canonicalJson({ ...rec.record, body: { title: '', text: '' } })), 'RECORD_MALFORMED')
    assert.equal(await faultOf(canonicalJson({ ...rec.record, body: { title: 't', text: '', extra: 1 } })), 'RECORD_MALFORMED')
    assert.equal(await faultOf('"' + 'x'.repeat(MAX_EVIDENCE_BYTES) + '"'), 'RECORD_TOO_LARGE')
    // Another spelling of the same signature bytes (base64url's spare bits) would be a second text of one record.
    const last = rec.record.sig.at(-1)!
    const respelled = rec.record.sig.slice(0, -1) + String.fromCharCode(last.charCodeAt(0) + 1)
    assert.deepEqual(Buffer.from(respelled, 'base64url'), Buffer.from(rec.record.sig, 'base64url'))
    assert.equal(await faultOf(canonicalJson({ ...rec.record, sig: respelled })), 'RECORD_MALFORMED')
    // Deep nesting is refused before anything recurses over it.
    const shallow = canonicalJson({ ...rec.record, kind: 'best', body: { deep: 0 } })
    assert.equal(await faultOf(shallow.replace('"deep":0', `"deep":${'['.repeat(5000)}${']'.repeat(5000)}`)), 'RECORD_MALFORMED')
    // So is a record of many small values (64 KiB of `{}` took 29 ms to check; 255 of them froze the loop 7 s).
    const many = canonicalJson({ ...rec.record, kind: 'best', body: { a: Array.from({ length: MAX_JSON_VALUES }, () => ({})) } })
    assert.ok(Buffer.byteLength(many) < MAX_RECORD_BYTES, 'under the size limit')
    await assert.rejects(parseRecord(many), (err: unknown) => err instanceof RecordError && err.fault === 'RECORD_MALFORMED' && /JSON values/.test(err.message))
    // Only equivocation evidence (two records whole) may pass the single record's limit.
    const big = canonicalJson({ ...rec.record, kind: 'best', body: { note: 'x'.repeat(MAX_RECORD_BYTES) } })
    assert.equal(await faultOf(big), 'RECORD_TOO_LARGE')
  })

  it('refuses to sign a record over the size limit, saying to use a blob', async () => {
    const me = await generateIdentity()
    await assert.rejects(
      signRecord(me.privateKey, me.peerId.toString(), { kind: 'best', body: { note: 'x'.repeat(MAX_RECORD_BYTES) }, createdAt: 1, slot }),
      (err: unknown) => err instanceof RecordError && err.fault === 'RECORD_TOO_LARGE' && /blob/.test(err.message)
    )
  })
})

describe('sanity bounds on results', () => {
  const metrics = { val_bpb: 2.1, training_seconds: 20, total_seconds: 22, peak_vram_mb: 0, mfu_percent: 0, total_tokens_M: 0.3, num_steps: 150, num_params_M: 0.4, depth: 2 }
  const h = (c: string): string => c.repeat(64)
  const body = (m: typeof metrics) => ({
    claimId: h('a'), parent: null, codeHash: h('b'), logHash: h('c'), description: 'baseline', delta: [], status: 'keep' as const,
    metrics: m, crash: null, hardware: { gpu: 'cpu', vramGb: 0, tier: 'cpu' as const }, harness: 'h1'
  })
  const impossible: Array<[string, typeof metrics]> = [
    ['val_bpb below what any tiny model reaches (0.05)', { ...metrics, val_bpb: 0.05 }],
    ['val_bpb above 64', { ...metrics, val_bpb: 100 }],
    ['a fractional step count (it could never be re-run)', { ...metrics, num_steps: 2.5 }],
    ['zero steps', { ...metrics, num_steps: 0 }]
  ]

  it('a result with numbers no run can report is refused outright, from a peer and from this node', async () => {
    const me = await generateIdentity()
    const honest = await signRecord(me.privateKey, me.peerId.toString(), { kind: 'result', body: body(metrics), createdAt: 1, slot })
    assert.equal((await parseRecord(honest.text)).record.kind, 'result')
    for (const [what, bad] of impossible) {
      // From a peer: refused for its body, before any signature could matter.
      assert.equal(await faultOf(canonicalJson({ ...honest.record, body: body(bad) })), 'RECORD_MALFORMED', what)
      // This node cannot publish it either.
      await assert.rejects(signRecord(me.privateKey, me.peerId.toString(), { kind: 'result', body: body(bad), createdAt: 1, slot }), Error, what)
    }
  })
})
