import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DaemonProcess, cleanupDaemons, describeRun, e2eTempDir, eventually, fileExists } from '../helpers/daemon-process.js'

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const blobPath = (d: DaemonProcess, hash: string): string => join(d.dataDir, 'blobs', hash.slice(0, 2), hash)

/** Every file under a daemon's blob dir (names only), to show nothing half-written was kept. */
async function blobFiles (d: DaemonProcess): Promise<string[]> {
  const entries = await readdir(join(d.dataDir, 'blobs'), { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => e.name).sort()
}

describe('e2e: blobs across the swarm', { timeout: 120_000 }, () => {
  after(async () => { await cleanupDaemons() })

  it('fetches a blob from a peer byte for byte, and refuses a copy that was corrupted on disk', async () => {
    const a = await DaemonProcess.start({ name: 'A' })
    const b = await DaemonProcess.start({ name: 'B', bootstrap: [a.addr] })
    await eventually(async () => (await b.connectedPeers()).has(a.peerId), 'B to connect to A', { diagnose: () => b.output })
    const work = await e2eTempDir('swarmd-e2e-files-')

    // Several data frames' worth of random bytes, so chunking and reassembly are exercised.
    const good = randomBytes(300 * 1024 + 17)
    const goodFile = join(work, 'train.py.bin')
    await writeFile(goodFile, good)
    const add = await a.cli(['blob', 'add', goodFile])
    assert.equal(add.code, 0, describeRun(add))
    const goodHash = add.stdout.trim()
    assert.equal(goodHash, sha256(good))
    assert.ok(!fileExists(blobPath(b, goodHash)), 'B must not hold the blob before it asks for it')

    const outFile = join(work, 'fetched.bin')
    const get = await b.cli(['blob', 'get', goodHash, '-o', outFile])
    assert.equal(get.code, 0, describeRun(get))
    assert.ok((await readFile(outFile)).equals(good), 'B wrote the exact bytes A stored')
    assert.ok((await readFile(blobPath(b, goodHash))).equals(good), 'B keeps a verified copy')

    // A second blob, whose only copy (on A) is then corrupted on disk.
    const victim = randomBytes(64 * 1024)
    const added = await a.post<{ hash: string }>('/api/blobs', victim)
    assert.equal(added.status, 201)
    const victimHash = added.body.hash
    assert.equal(victimHash, sha256(victim))
    const corrupt = Buffer.from(victim)
    corrupt[corrupt.length >> 1] ^= 0xff
    await writeFile(blobPath(a, victimHash), corrupt)

    // Whether A refuses to serve it (not found) or B catches the bad bytes (mismatch), B must not deliver it.
    const fetchOnB = await b.request('GET', `/api/blobs/${victimHash}`)
    assert.notEqual(fetchOnB.status, 200, 'B must not deliver bytes that do not match the hash')
    assert.ok(['BLOB_NOT_FOUND', 'BLOB_HASH_MISMATCH'].includes((fetchOnB.body as { error?: { code?: string } }).error?.code ?? ''), `B: ${fetchOnB.status} ${JSON.stringify(fetchOnB.body)}`)
    const cliOnB = await b.cli(['blob', 'get', victimHash, '-o', join(work, 'victim.bin')])
    assert.notEqual(cliOnB.code, 0, describeRun(cliOnB))
    assert.ok(!fileExists(join(work, 'victim.bin')), 'the CLI writes no output file for a failed fetch')

    // A found its copy corrupt while serving it: it is gone and A no longer serves it.
    const fetchOnA = await a.request('GET', `/api/blobs/${victimHash}`)
    assert.notEqual(fetchOnA.status, 200, `A still serves the corrupt blob: ${JSON.stringify(fetchOnA.body)}`)
    assert.ok(!fileExists(blobPath(a, victimHash)), 'A deleted its corrupt copy')

    // B never stored the wrong bytes, not even as a temp file; its good blob is untouched.
    assert.deepEqual(await blobFiles(b), [goodHash])
    const again = await b.request('GET', `/api/blobs/${goodHash}`)
    assert.equal(again.status, 200)
    assert.ok((again.body as Buffer).equals(good))
  })
})
