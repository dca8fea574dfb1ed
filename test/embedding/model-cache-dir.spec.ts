import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultModelCacheDir, modelCacheDir } from '../../src/embedding/model-cache-dir.js'
import { ensureMiniLmOnnx } from '../../src/embedding/minilm-onnx.js'

describe('the model cache: one MiniLM model per machine, not per data dir', () => {
  it('is $XDG_CACHE_HOME/swarmd/models, else ~/.cache/swarmd/models', () => {
    assert.equal(defaultModelCacheDir({ XDG_CACHE_HOME: '/var/cache/me' }), '/var/cache/me/swarmd/models')
    assert.equal(defaultModelCacheDir({}), join(homedir(), '.cache', 'swarmd', 'models'))
  })

  it('creates the configured directory, private to this user, and two data dirs build the model once', async () => {
    const root = await mkdtemp(join(tmpdir(), 'swarmd-model-cache-'))
    try {
      const lines: string[] = []
      const shared = join(root, 'machine', 'models')
      assert.equal(await modelCacheDir(shared, join(root, 'data-a'), (l) => lines.push(l)), shared)
      assert.equal((await stat(shared)).mode & 0o777, 0o700)
      const built: string[] = []
      const first = await ensureMiniLmOnnx(await modelCacheDir(shared, join(root, 'data-a'), () => {}), (l) => built.push(l))
      const second = await ensureMiniLmOnnx(await modelCacheDir(shared, join(root, 'data-b'), () => {}), (l) => built.push(l))
      assert.equal(first, second)
      assert.equal(built.filter((l) => l.includes('building')).length, 1, 'the second data dir finds the model built')
      assert.deepEqual(lines, [])
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })

  it('falls back to the data dir, and says so, where the cache cannot be written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'swarmd-model-cache-'))
    try {
      // A file where the directory should be: not writable as a directory for anyone, root included.
      const blocked = join(root, 'not-a-dir')
      await writeFile(blocked, 'x')
      await chmod(blocked, 0o400)
      const lines: string[] = []
      assert.equal(await modelCacheDir(join(blocked, 'models'), join(root, 'data'), (l) => lines.push(l)), join(root, 'data', 'models'))
      assert.equal(lines.length, 1)
      assert.match(lines[0]!, /cannot be written.*modelCacheDir/)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})
