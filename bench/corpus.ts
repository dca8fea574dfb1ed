/**
 * The gpu corpus path on this machine: list → download (loopback, so the network is not what is
 * measured) → verify sha256 → decode parquet (hyparquet, snappy) → flat files, for shards of
 * realistic size, and the cost of the swarm identity (the sha256 of the validation bytes).
 *
 * Generates `--shards` parquet shards of about `--mb` MB of text each (seeded pseudo-words,
 * documents of ~0.5-4 KB, row groups of 10,000 documents) and serves them from a loopback hub.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parquetWriteBuffer } from 'hyparquet-writer'
import { fetchWebCorpus } from '../src/corpus/web-corpus.js'
import { sha256File } from '../src/util/hash.js'
import { seededRng } from '../src/util/rng.js'
import { FakeHub } from '../test/helpers/fake-hub.js'
import { fmtMs, machineLine, parseFlags, progress } from './harness.js'
import type { CorpusProgress } from '../src/corpus/web-corpus.js'

const flags = parseFlags('bench:corpus', 'fetch, verify and decode rate of the gpu corpus path, and the identity cost', {
  mb: { default: 100, help: 'MB of text per shard' },
  shards: { default: 2, help: 'shards (the last is the validation shard)' }
})

const WORDS = 'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can out into up other about what its than only some time could them these two may first then do any like my now over such our man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long here get both between life being under never day same another know while last might us great old year off come since against go came right used take three'.split(' ')

function makeShard (rng: ReturnType<typeof seededRng>, bytes: number): { parquet: Buffer, text: number } {
  const docs: string[] = []
  let text = 0
  while (text < bytes) {
    const words: string[] = []
    for (let n = 80 + rng.int(600); n > 0; n--) words.push(WORDS[rng.int(WORDS.length)]!)
    const doc = words.join(' ') + '.'
    docs.push(doc)
    text += doc.length
  }
  return { parquet: Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'text', data: docs, type: 'STRING' }], rowGroupSize: 10_000 })), text }
}

const rng = seededRng(7)
const hub = new FakeHub('bench/web-text')
let textBytes = 0
for (let i = 0; i < flags.shards; i++) {
  progress(`generating shard ${i + 1}/${flags.shards}`)
  const { parquet, text } = makeShard(rng, flags.mb * 1e6)
  hub.files.set(`shard_${String(i).padStart(5, '0')}.parquet`, parquet)
  textBytes += text
}
const parquetBytes = [...hub.files.values()].reduce((sum, b) => sum + b.byteLength, 0)
await hub.start()
const dir = await mkdtemp(join(tmpdir(), 'swarmd-bench-corpus-'))
try {
  const phases = new Map<string, number>()
  let phase = ''
  let phaseStart = performance.now()
  const mark = (next: string): void => {
    if (phase !== '') phases.set(phase, (phases.get(phase) ?? 0) + performance.now() - phaseStart)
    phase = next
    phaseStart = performance.now()
  }
  const cpu = process.cpuUsage()
  const started = performance.now()
  const manifest = await fetchWebCorpus({ dataset: { endpoint: hub.endpoint, repo: hub.repo, revision: 'main' }, trainShards: flags.shards - 1, validationShard: [...hub.files.keys()].sort().at(-1)! }, dir, {
    onProgress: (e: CorpusProgress) => { if (e.phase !== phase && !(e.phase === 'decode' && phase === 'decode')) mark(e.phase) }
  })
  mark('')
  const wall = performance.now() - started
  const used = process.cpuUsage(cpu)
  const identityStart = performance.now()
  await sha256File(manifest.val.path)
  const identityMs = performance.now() - identityStart
  const downloadMs = phases.get('download') ?? 0
  const decodeMs = phases.get('decode') ?? 0
  console.log(`# bench:corpus — ${machineLine()}`)
  console.log(`shards: ${flags.shards}, parquet ${(parquetBytes / 1e6).toFixed(1)} MB (snappy), text ${(textBytes / 1e6).toFixed(1)} MB`)
  console.log(`download + verify (loopback): ${fmtMs(downloadMs)} ms, ${(parquetBytes / 1e6 / (downloadMs / 1000)).toFixed(0)} MB/s of parquet`)
  console.log(`decode to flat text: ${fmtMs(decodeMs)} ms, ${(textBytes / 1e6 / (decodeMs / 1000)).toFixed(0)} MB/s of text, ${(decodeMs / 1000 / flags.shards).toFixed(2)} s per shard`)
  console.log(`whole path: ${fmtMs(wall)} ms wall, ${((used.user + used.system) / 1e6).toFixed(2)} s CPU (${((used.user + used.system) / 1e6 / flags.shards).toFixed(2)} s per shard)`)
  console.log(`identity (sha256 of ${(manifest.val.bytes / 1e6).toFixed(1)} MB of validation text): ${fmtMs(identityMs)} ms`)
} finally {
  await hub.stop()
  await rm(dir, { recursive: true, force: true })
}
