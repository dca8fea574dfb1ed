import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { DOCUMENT_SEPARATOR } from '../../src/corpus/parquet-text.js'
import { fetchWebCorpus, localCorpus, readShardList } from '../../src/corpus/web-corpus.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { sha256Hex } from '../../src/util/hash.js'
import { describeRun, runCli } from '../helpers/daemon-process.js'
import { FakeHub } from '../helpers/fake-hub.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import type { CorpusProgress, WebCorpusSpec } from '../../src/corpus/web-corpus.js'

const REPO = 'someone/web-text'

/** A parquet shard of `documents` with one `text` column, as the hub's datasets are. */
function shard (documents: string[]): Buffer {
  return Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'text', data: documents, type: 'STRING' }] }))
}

describe('the gpu corpus: fetched from a hub, verified against what the hub publishes, flattened', () => {
  const hub = new FakeHub(REPO)
  const docs = (shardNo: number): string[] => Array.from({ length: 40 }, (_, i) => `shard ${shardNo} document ${i}: ${'words and more words, '.repeat(20 + (i % 7))}`)
  let spec: WebCorpusSpec

  before(async () => {
    for (const n of [0, 1, 2]) hub.files.set(`shard_0000${n}.parquet`, shard(docs(n)))
    hub.files.set('shard_00009.parquet', shard(docs(9)))
    await hub.start()
    spec = { dataset: { endpoint: hub.endpoint, repo: REPO, revision: 'main' }, trainShards: 2, validationShard: 'shard_00009.parquet' }
  })

  after(async () => { await hub.stop() })

  it('downloads through redirects, busy answers and a dropped transfer, resumes, verifies and writes the flat texts once', async () => {
    const dir = await tempDir()
    hub.faults.set('shard_00000.parquet', [{ status: 503 }, { status: 429 }])
    hub.faults.set('shard_00001.parquet', [{ truncateAt: 300 }])
    const events: CorpusProgress[] = []
    const manifest = await fetchWebCorpus(spec, dir, { backoffMs: 1, onProgress: (e) => events.push(e) })
    // Training: the first two shards by name; validation: the named one (not the third shard).
    assert.deepEqual(manifest.shards.map((s) => s.path), ['shard_00000.parquet', 'shard_00001.parquet', 'shard_00009.parquet'])
    assert.equal(await readFile(join(dir, 'train.txt'), 'utf8'), [...docs(0), ...docs(1)].join(DOCUMENT_SEPARATOR))
    const val = await readFile(join(dir, 'val.txt'))
    assert.equal(val.toString('utf8'), docs(9).join(DOCUMENT_SEPARATOR))
    assert.equal(manifest.val.sha256, sha256Hex(val))
    assert.equal(manifest.val.documents, 40)
    // The dropped transfer was resumed where it broke off, not started over.
    assert.ok(hub.requests.some((r) => r.path === 'shard_00001.parquet' && /^bytes=[1-9]\d*-$/.test(r.range ?? '')), JSON.stringify(hub.requests))
    assert.equal(hub.requests.filter((r) => r.path === 'shard_00000.parquet').length, 3, 'two busy answers, then the file')
    const download = events.filter((e) => e.phase === 'download')
    assert.ok(download.length > 0 && download.at(-1)!.phase === 'download' && (download.at(-1) as { done: number, total: number }).done === (download.at(-1) as { total: number }).total, 'progress reaches the total')
    assert.ok(events.some((e) => e.phase === 'decode') && events.at(-1)!.phase === 'ready')
    assert.deepEqual((await readdir(join(dir, 'shards'))).sort(), manifest.shards.map((s) => s.path), 'no partial files left')

    // A second fetch finds everything in place: it lists, and downloads nothing.
    const before = hub.requests.length
    const again = await fetchWebCorpus(spec, dir, { backoffMs: 1 })
    assert.equal(hub.requests.length, before)
    assert.deepEqual(again.val, manifest.val)
  })

  it('a shard whose bytes do not match the published sha256 is deleted, with a message that says so', async () => {
    const dir = await tempDir()
    hub.published.set('shard_00001.parquet', sha256Hex('something else'))
    try {
      await assert.rejects(fetchWebCorpus(spec, dir, { backoffMs: 1 }), (err: unknown) => isSwarmdError(err, 'CORPUS_CHECKSUM_MISMATCH') && /shard_00001\.parquet/.test(err.message) && /deleted/.test(err.message))
      const left = await readdir(join(dir, 'shards'))
      assert.ok(!left.some((n) => n.startsWith('shard_00001')), `nothing of the bad shard is kept: ${left.join(', ')}`)
    } finally {
      hub.published.delete('shard_00001.parquet')
    }
  })

  it('gives up on a host that stays busy, keeping what came for a later resume', async () => {
    const dir = await tempDir()
    hub.faults.set('shard_00002.parquet', [])
    hub.faults.set('shard_00000.parquet', Array(10).fill({ status: 503 }))
    try {
      await assert.rejects(fetchWebCorpus(spec, dir, { backoffMs: 1, attempts: 3 }), (err: unknown) => isSwarmdError(err, 'CORPUS_FETCH_FAILED') && /3 times/.test(err.message))
    } finally {
      hub.faults.delete('shard_00000.parquet')
    }
  })

  it('a local folder of the same shards, or a shard list given as a file, gives the same validation bytes', async () => {
    const source = await tempDir()
    for (const [name, bytes] of hub.files) await writeFile(join(source, name), bytes)
    const local = await localCorpus(spec, source, await tempDir())
    const fetched = await fetchWebCorpus(spec, await tempDir(), { backoffMs: 1 })
    assert.equal(local.val.sha256, fetched.val.sha256)
    assert.equal(local.train.sha256, fetched.train.sha256)
    // One byte different: a different identity.
    const changed = await tempDir()
    for (const [name, bytes] of hub.files) await writeFile(join(changed, name), name === 'shard_00009.parquet' ? shard([...docs(9).slice(0, -1), docs(9).at(-1)! + '!']) : bytes)
    assert.notEqual((await localCorpus(spec, changed, await tempDir())).val.sha256, fetched.val.sha256)

    const listFile = join(await tempDir(), 'corpus-manifest.json')
    await writeFile(listFile, JSON.stringify({ shards: fetched.shards }))
    const shards = await readShardList(listFile)
    const viaList = await fetchWebCorpus({ ...spec, dataset: { ...spec.dataset, endpoint: hub.endpoint } }, await tempDir(), { backoffMs: 1, shards })
    assert.equal(viaList.val.sha256, fetched.val.sha256)
    await writeFile(listFile, '{"shards": [{"path": "x"}]}')
    await assert.rejects(readShardList(listFile), (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID'))
    await mkdir(join(changed, 'empty'), { recursive: true })
    await assert.rejects(localCorpus(spec, join(changed, 'empty'), await tempDir()), (err: unknown) => isSwarmdError(err, 'CORPUS_UNAVAILABLE'))
  })

  it('`swarmd corpus fetch --corpus DIR` flattens a local folder, says where, and `doctor` then reports the corpus', async () => {
    // The real profile's names: its validation shard is the dataset's last.
    const source = await tempDir()
    for (const [name, bytes] of hub.files) await writeFile(join(source, name === 'shard_00009.parquet' ? 'shard_06542.parquet' : name), bytes)
    const dataDir = await tempDir()
    const run = await runCli(['--data-dir', dataDir, 'corpus', 'fetch', '--corpus', source, '--json'])
    assert.equal(run.code, 0, describeRun(run))
    const manifest = JSON.parse(run.stdout) as { val: { sha256: string, path: string } }
    assert.equal(manifest.val.sha256, sha256Hex(docs(9).join(DOCUMENT_SEPARATOR)))
    assert.equal(manifest.val.path, join(dataDir, 'corpus', 'web', 'val.txt'))
    const doctor = await runCli(['--data-dir', dataDir, 'doctor', '--json'], { timeoutMs: 180_000 })
    const check = (JSON.parse(doctor.stdout) as Array<{ name: string, ok: boolean, found: string }>).find((c) => c.name === 'corpus (gpu profile)')
    assert.ok(check?.ok === true && check.found.includes(manifest.val.sha256.slice(0, 16)), JSON.stringify(check))
    const missing = await runCli(['--data-dir', dataDir, 'corpus', 'fetch', '--corpus', join(source, 'nowhere')])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /CORPUS_UNAVAILABLE/)
  })
})
