import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClaimJournal } from '../../src/agent/claim-journal.js'

describe('ClaimJournal', () => {
  it('keeps the claims that still hold across a restart, drops the ended ones as new ones come, and reads a broken file as empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmd-journal-'))
    try {
      const path = join(dir, 'own-claims.json')
      const ended = new Set<string>()
      const holds = (id: string): boolean => !ended.has(id)
      const journal = new ClaimJournal(path)
      assert.deepEqual(await journal.load(), [], 'no file yet')
      await journal.add('c1', holds)
      await journal.add('c2', holds)
      ended.add('c1')
      await journal.add('c3', holds)
      // A new daemon (after a crash) reads what the last one left.
      assert.deepEqual(await new ClaimJournal(path).load(), ['c2', 'c3'])
      await journal.clear()
      assert.deepEqual(await new ClaimJournal(path).load(), [])
      await writeFile(path, '{"v":1,"claims":[42]}')
      assert.deepEqual(await new ClaimJournal(path).load(), [], 'a journal of the wrong shape is empty')
      await writeFile(path, 'not json')
      assert.deepEqual(await new ClaimJournal(path).load(), [])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
