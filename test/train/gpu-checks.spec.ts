import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { execa } from 'execa'
import { HARNESS_DIR, requirePython } from '../helpers/python.js'

/**
 * `bench/gpu-checks.sh` is what a session runs in the few minutes a GPU is lent: it must work the
 * first time. Its plumbing (the harness's evaluator, the channel, three runs, the report) on a CPU.
 */
describe('bench/gpu-checks.sh on a CPU (its plumbing, as a lent GPU would run it)', { timeout: 240_000 }, () => {
  it('runs three evaluated runs and reports val_bpb, the noise floor and the evaluation', async () => {
    const python = await requirePython()
    const run = await execa('bash', [join(HARNESS_DIR, '..', 'bench', 'gpu-checks.sh')], { env: { SWARMD_PYTHON: python, PROFILE: 'cpu', STEPS: '5' }, reject: false, all: true, timeout: 200_000 })
    assert.equal(run.exitCode, 0, run.all)
    const harness = (run.all ?? '').split('\n').filter((l) => l.startsWith('harness: {'))
    assert.equal(harness.length, 3, run.all)
    for (const line of harness) assert.ok(Number((JSON.parse(line.slice('harness: '.length)) as { val_bpb: number }).val_bpb) > 0.2, line)
    assert.match(run.all ?? '', /noise floor, same setup \(a vs b\): \S+ val_bpb/)
  })
})
