import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { isSwarmdError } from '../util/errors.js'
import type { UpdateStore } from './update-store.js'

/** A store to put through the suite: a fresh one, the same data opened again, and how to clean up. */
export interface UpdateStoreUnderTest {
  store: UpdateStore
  reopen: () => UpdateStore
  cleanup: () => Promise<void>
}

/** A Yjs document holding `entries` in its hypotheses map, and the updates that built it. */
export function docWith (entries: Record<string, string>, client: number): { doc: Y.Doc, updates: Uint8Array[] } {
  const doc = new Y.Doc()
  doc.clientID = client
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (const [k, v] of Object.entries(entries)) doc.getMap('hypotheses').set(k, v)
  return { doc, updates }
}

/**
 * The contract every UpdateStore meets (LevelDB and in-memory alike): node:test cases for a test
 * file to register, as automerge-repo exports its storage adapters' suite.
 */
export function runUpdateStoreTests (name: string, make: () => Promise<UpdateStoreUnderTest>): void {
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
