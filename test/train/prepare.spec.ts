import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Run a snippet with prepare.py importable; returns the exit code and output. */
async function py (python: string, code: string, env: Record<string, string> = {}): Promise<{ exitCode: number, out: string }> {
  const r = await execa(python, ['-c', code], { cwd: HARNESS_DIR, env, reject: false, all: true, timeout: 120_000 })
  return { exitCode: r.exitCode ?? -1, out: r.all ?? '' }
}

describe('train/prepare.py', () => {
  let python: string
  before(async () => { python = await requirePython() })

  it('loads the pinned corpus: 5.4 MB train (the even-numbered addresses), 1.05 MB validation, a 5.3 MB pool', async () => {
    const r = await py(python, 'import prepare\ntr, va = prepare.load_sotu()\nprint(len(tr), len(va), len(prepare.sotu_pool()))', { SWARMD_SOTU_DIR: CORPUS_DIR })
    assert.equal(r.exitCode, 0, r.out)
    const [train, val, pool] = r.out.trim().split(/\s+/).map(Number)
    assert.ok(train! > 5_300_000 && train! < 5_450_000, r.out)
    assert.ok(val! > 1_000_000 && val! < 1_100_000, r.out)
    assert.ok(pool! > 5_200_000 && pool! < 5_400_000, r.out)
  })

  it('refuses a corpus whose checksum differs', async () => {
    const dir = await tempDir()
    try {
      await cp(CORPUS_DIR, dir, { recursive: true })
      const first = (await readdir(dir)).filter((n) => n.endsWith('.txt')).sort()[0]!
      await writeFile(join(dir, first), (await readFile(join(dir, first), 'utf8')).replace('the', 'teh'))
      const r = await py(python, 'import prepare\ntry:\n    prepare.load_sotu()\nexcept prepare.CorpusError as e:\n    print("refused:", e)\n', { SWARMD_SOTU_DIR: dir })
      assert.match(r.out, /refused: .*does not match the pinned/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('the gpu profile\'s code path on a CPU (gpu-tiny: the same corpus, pool and evaluation, a tiny size)', () => {
  let python: string
  let corpus: string
  // Web-like text: documents separated by blank lines, as `swarmd corpus fetch` writes them.
  const doc = (i: number): string => `document ${i}: ` + Array.from({ length: 60 }, (_, w) => ['the', 'model', 'trains', 'on', 'bytes', 'of', 'web', 'text'][(i * 7 + w * 3) % 8]).join(' ')
  const text = (from: number, count: number): string => Array.from({ length: count }, (_, i) => doc(from + i)).join('\n\n')

  before(async () => {
    python = await requirePython()
    corpus = await tempDir()
    await writeFile(join(corpus, 'train.txt'), text(0, 1500))
    await writeFile(join(corpus, 'val.txt'), text(5000, 150))
  })
  after(async () => { await rm(corpus, { recursive: true, force: true }) })

  const env = (dir: string): Record<string, string> => ({ SWARMD_PROFILE: 'gpu-tiny', SWARMD_WEB_CORPUS_DIR: dir, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' })

  it('exports the splits from the fetched corpus: the fixed slice, the pool after it, the training text', async () => {
    const out = await tempDir()
    try {
      const r = await execa(python, ['prepare.py', 'export-splits', out], { cwd: HARNESS_DIR, env: env(corpus), reject: false, all: true, timeout: 120_000 })
      assert.equal(r.exitCode, 0, r.all)
      const splits = JSON.parse(r.stdout.trim().split('\n').pop()!) as { train: string[], val: string, val_sha256: string, pool: { path: string, offset: number } }
      const val = await readFile(join(corpus, 'val.txt'))
      assert.equal(splits.val_sha256, sha256(val.subarray(0, 16384)))
      assert.deepEqual(splits.pool, { path: join(corpus, 'val.txt'), offset: 16384 })
      assert.deepEqual(splits.train, [join(corpus, 'train.txt')])
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  })

  it('trains and scores a few steps through the gpu code path, the same val_bpb twice', async () => {
    const run = async (): Promise<string> => {
      const r = await execa(python, ['train.py'], { cwd: HARNESS_DIR, env: { ...env(corpus), MAX_STEPS: '5' }, reject: false, all: true, timeout: 120_000 })
      assert.equal(r.exitCode, 0, r.all)
      return /^val_bpb: (\S+)$/m.exec(r.all ?? '')?.[1] ?? 'missing'
    }
    const first = await run()
    assert.ok(Number(first) > 0.2 && Number(first) < 9, first)
    assert.equal(await run(), first)
  })

  it('without the corpus, says to run `swarmd corpus fetch`', async () => {
    const r = await py(python, 'import prepare\ntry:\n    prepare.web_corpus_paths()\nexcept prepare.CorpusError as e:\n    print("corpus-error:", e)', env(join(corpus, 'missing')))
    assert.match(r.out, /corpus-error: .*swarmd corpus fetch/, r.out)
  })
})

describe('train/train.py on the cpu profile', () => {
  it('gives the same val_bpb twice with a fixed step budget', async () => {
    const python = await requirePython()
    const run = async (): Promise<string> => {
      const r = await execa(python, ['train.py'], { cwd: HARNESS_DIR, env: { MAX_STEPS: '40', SWARMD_SOTU_DIR: CORPUS_DIR, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' }, reject: false, all: true, timeout: 120_000 })
      assert.equal(r.exitCode, 0, r.all)
      return /^val_bpb: (\S+)$/m.exec(r.all ?? '')?.[1] ?? 'missing'
    }
    const first = await run()
    assert.notEqual(first, 'missing')
    assert.equal(await run(), first)
  })
})
