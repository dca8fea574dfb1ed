import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as Y from 'yjs'
import { LevelUpdateStore, MemoryUpdateStore } from '../../src/state/update-store.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import type { UpdateStore } from '../../src/state/update-store.js'

function docWith (entries: Record<string, string>, client: number): { doc: Y.Doc, updates: Uint8Array[] } {
  const doc = new Y.Doc()
  doc.clientID = client
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (const [k, v] of Object.entries(entries)) doc.getMap('hypotheses').set(k, v)
  return { doc, updates }
}

/** The conformance suite every UpdateStore passes (LevelDB and in-memory alike). */
function updateStoreConformance (name: string, make: () => Promise<{ store: UpdateStore, reopen: () => UpdateStore, cleanup: () => Promise<void> }>): void {
  describe(`UpdateStore conformance: ${name}`, () => {
    it('loads null when nothing was stored', async () => {
      const { store, cleanup } = await make()
      try {
        await store.open()
        assert.equal(await store.load(), null)
        await store.close()
      } finally { await cleanup() }
    })

    it('gives back everything appended, merged into one update', async () => {
      const { store, cleanup } = await make()
      try {
        await store.open()
        const { doc, updates } = docWith({ a: '1', b: '2', c: '3' }, 5)
        for (const u of updates) await store.append(u)
        const loaded = await store.load()
        assert.ok(loaded !== null)
        const copy = new Y.Doc()
        Y.applyUpdate(copy, loaded)
        assert.deepEqual(copy.getMap('hypotheses').toJSON(), doc.getMap('hypotheses').toJSON())
        await store.close()
      } finally { await cleanup() }
    })

    it('keeps what was appended across close and reopen', async () => {
      const { store, reopen, cleanup } = await make()
      try {
        await store.open()
        const { updates } = docWith({ x: 'kept' }, 6)
        for (const u of updates) await store.append(u)
        await store.close()
        const again = reopen()
        await again.open()
        const copy = new Y.Doc()
        Y.applyUpdate(copy, (await again.load())!)
        assert.equal(copy.getMap('hypotheses').get('x'), 'kept')
        await again.close()
      } finally { await cleanup() }
    })

    it('throws PERSISTENCE_FAILED instead of losing a write when closed', async () => {
      const { store, cleanup } = await make()
      try {
        await store.open()
        await store.close()
        await assert.rejects(store.append(Uint8Array.of(0, 0)), (err: unknown) => isSwarmdError(err, 'PERSISTENCE_FAILED'))
      } finally { await cleanup() }
    })
  })
}

updateStoreConformance('LevelDB (y-leveldb)', async () => {
  const dir = await tempDir()
  const location = join(dir, 'state')
  return { store: new LevelUpdateStore(location, 'test'), reopen: () => new LevelUpdateStore(location, 'test'), cleanup: () => rm(dir, { recursive: true, force: true }) }
})

updateStoreConformance('memory', async () => {
  const store = new MemoryUpdateStore()
  return { store, reopen: () => store, cleanup: async () => {} }
})

describe('LevelUpdateStore', () => {
  it('surfaces y-leveldb\'s swallowed errors: a second daemon on the same data dir fails loudly', async () => {
    const dir = await tempDir()
    const location = join(dir, 'state')
    const first = new LevelUpdateStore(location, 'test')
    const second = new LevelUpdateStore(location, 'test')
    try {
      await first.open()
      const { updates } = docWith({ a: '1' }, 9)
      await first.append(updates[0]!)
      await second.open()
      await assert.rejects(second.load(), (err: unknown) => isSwarmdError(err, 'PERSISTENCE_FAILED'))
      await assert.rejects(second.append(updates[0]!), (err: unknown) => isSwarmdError(err, 'PERSISTENCE_FAILED'))
    } finally {
      await first.close()
      await second.close().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  })
})
