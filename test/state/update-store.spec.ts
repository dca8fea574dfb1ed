import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LevelUpdateStore, MemoryUpdateStore } from '../../src/state/update-store.js'
import { docWith, runUpdateStoreTests } from '../../src/state/update-store-conformance.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { tempDir } from '../helpers/in-process-daemon.js'

runUpdateStoreTests('LevelDB (y-leveldb)', async () => {
  const dir = await tempDir()
  const location = join(dir, 'state')
  return { store: new LevelUpdateStore(location, 'test'), reopen: () => new LevelUpdateStore(location, 'test'), cleanup: () => rm(dir, { recursive: true, force: true }) }
})

runUpdateStoreTests('memory', async () => {
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
