import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { cp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { execa } from 'execa'
import { tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Run a snippet with prepare.py importable; returns the exit code and output. */
async function py (python: string, code: string, env: Record<string, string> = {}): Promise<{ exitCode: number, out: string }> {
  const r = await execa(python, ['-c', code], { cwd: HARNESS_DIR, env, reject: false, all: true, timeout: 120_000 })
  return { exitCode: r.exitCode ?? -1, out: r.all ?? '' }
}

describe('train/prepare.py', () => {
  let python: string
  before(async () => { python = await requirePython() })

  it('loads the pinned corpus: 9.7 MB train, 1.05 MB validation', async () => {
    const r = await py(python, 'import prepare\ntr, va = prepare.load_sotu()\nprint(len(tr), len(va))', { SWARMD_SOTU_DIR: CORPUS_DIR })
    assert.equal(r.exitCode, 0, r.out)
    const [train, val] = r.out.trim().split(/\s+/).map(Number)
    assert.ok(train! > 9_600_000 && train! < 9_800_000, r.out)
    assert.ok(val! > 1_000_000 && val! < 1_100_000, r.out)
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

describe('train/prepare.py gpu corpus download (loopback server, fixture shards)', () => {
  let python: string
  let server: Server
  let baseUrl: string
  const shards = [Buffer.from('alpha '.repeat(300_000)), Buffer.from('beta '.repeat(250_000))]
  const served: Record<string, Buffer> = { 'a.txt': shards[0]!, 'b.txt': shards[1]! }
  const requests: Array<{ name: string, range: string | undefined }> = []
  let cutFirstTransfer = true
  let corrupt = false

  before(async () => {
    python = await requirePython()
    server = createServer((req, res) => {
      const name = (req.url ?? '/').slice(1)
      const body = served[name]
      requests.push({ name, range: req.headers.range })
      if (body === undefined) { res.writeHead(404).end(); return }
      const data = corrupt ? Buffer.from(body).fill(120, 0, 10) : body
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
      const from = range === null ? 0 : Number(range[1])
      res.writeHead(range === null ? 200 : 206, { 'content-length': String(data.length - from) })
      if (cutFirstTransfer && name === 'a.txt') {
        // An interrupted transfer: half the bytes, then the connection drops.
        cutFirstTransfer = false
        res.write(data.subarray(from, from + Math.floor(data.length / 2)), () => { res.socket?.destroy() })
        return
      }
      res.end(data.subarray(from))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => { await new Promise((resolve) => server.close(resolve)) })

  const manifest = (): string => JSON.stringify(Object.entries(served).map(([name, data]) => ({ name, size: data.length, sha256: sha256(data) })))
  const download = async (dir: string): Promise<{ exitCode: number, out: string }> => py(python, [
    'import json, sys, prepare',
    `shards = json.loads(${JSON.stringify(manifest())})`,
    'try:',
    `    paths = prepare.download_shards(${JSON.stringify(baseUrl)}, shards, ${JSON.stringify(dir)})`,
    '    print("ok", *paths)',
    'except prepare.CorpusError as e:',
    '    print("corpus-error:", e)',
    'except Exception as e:',
    '    print("interrupted:", type(e).__name__)'
  ].join('\n'))

  it('resumes an interrupted transfer with a range request, verifies, and caches', async () => {
    const dir = await tempDir()
    try {
      const first = await download(dir)
      assert.match(first.out, /interrupted|stopped at \d+\/\d+ bytes; run again to resume/, first.out)
      const partial = await stat(join(dir, 'a.txt.part'))
      assert.ok(partial.size > 0 && partial.size < shards[0]!.length)
      const second = await download(dir)
      assert.match(second.out, /^ok /m, second.out)
      assert.ok(requests.some((r) => r.name === 'a.txt' && r.range === `bytes=${partial.size}-`), 'resumed from where it stopped')
      assert.equal(sha256(await readFile(join(dir, 'a.txt'))), sha256(shards[0]!))
      assert.equal(sha256(await readFile(join(dir, 'b.txt'))), sha256(shards[1]!))
      const before = requests.length
      assert.match((await download(dir)).out, /^ok /m)
      assert.equal(requests.length, before, 'verified shards are not fetched again')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('rejects and deletes a corrupted shard', async () => {
    const dir = await tempDir()
    corrupt = true
    try {
      const r = await download(dir)
      assert.match(r.out, /corpus-error: shard a.txt is corrupt/, r.out)
      assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('a.txt')), [])
    } finally {
      corrupt = false
      await rm(dir, { recursive: true, force: true })
    }
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
