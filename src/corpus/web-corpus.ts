import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { z } from 'zod'
import { SwarmdError } from '../util/errors.js'
import { sha256File, sha256Hex } from '../util/hash.js'
import { CORPUS_HUB, hubFileUrl, listHubFiles } from './hub-listing.js'
import { writeFlatText } from './parquet-text.js'
import { downloadVerified } from './shard-download.js'
import type { HubDataset, HubFile } from './hub-listing.js'
import type { FlatText } from './parquet-text.js'

/** Which files of a hub dataset a profile trains and evaluates on. */
export interface WebCorpusSpec {
  dataset: HubDataset
  /** The first this many shards (in name order) are the training split. */
  trainShards: number
  /** The validation split: one fixed shard. */
  validationShard: string
}

/**
 * The gpu profile's corpus: autoresearch's own data, so numbers mean the same to its users. The
 * last shard is autoresearch's fixed validation shard.
 */
export const CLIMBMIX: WebCorpusSpec = {
  dataset: { endpoint: CORPUS_HUB, repo: 'karpathy/climbmix-400b-shuffle', revision: 'main' },
  trainShards: 8,
  validationShard: 'shard_06542.parquet'
}

/** The corpus as published by `hub` (a mirror of the host, or a test's server): the same files, names and checksums. */
export function climbmixAt (hub: string): WebCorpusSpec {
  return { ...CLIMBMIX, dataset: { ...CLIMBMIX.dataset, endpoint: hub.replace(/\/+$/, '') } }
}

/** What `corpus.json` in a corpus folder records: the shards and the flat texts made from them. */
export interface CorpusManifest {
  dataset: string
  shards: HubFile[]
  train: FlatText
  val: FlatText
}

export type CorpusProgress =
  | { phase: 'list' }
  | { phase: 'download', done: number, total: number, bytesPerSecond: number, etaSeconds: number | undefined }
  | { phase: 'decode', split: 'train' | 'val', documents: number }
  | { phase: 'ready', manifest: CorpusManifest }

export interface FetchCorpusOptions {
  fetch?: typeof fetch
  signal?: AbortSignal
  /** Shards downloaded at once. Default 4. */
  concurrency?: number
  onProgress?: (event: CorpusProgress) => void
  /** The shard list to use instead of the host's listing (`--corpus-manifest`): it wins. */
  shards?: HubFile[]
  /** Tries and first backoff per shard (tests shorten them). */
  attempts?: number
  backoffMs?: number
}

const hubFile = z.strictObject({ path: z.string().min(1), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })

/** A shard list from a file (`--corpus-manifest FILE`): `{"shards": [{path, size, sha256}, ...]}`. */
export async function readShardList (path: string): Promise<HubFile[]> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new SwarmdError('CONFIG_INVALID', `corpus manifest ${path} is not readable JSON: ${(err as Error).message}`)
  }
  const parsed = z.object({ shards: z.array(hubFile).min(1) }).safeParse(json)
  if (!parsed.success) throw new SwarmdError('CONFIG_INVALID', `corpus manifest ${path}: ${parsed.error.issues[0]?.message ?? 'invalid'} (expected {"shards": [{"path", "size", "sha256"}]})`)
  return parsed.data.shards
}

/**
 * Download (resumably, `concurrency` shards at once), verify against the sha256 the host publishes
 * for each shard, and flatten to `train.txt` and `val.txt` in `dir`. Done once: a folder whose
 * manifest matches is returned as it is.
 */
export async function fetchWebCorpus (spec: WebCorpusSpec, dir: string, opts: FetchCorpusOptions = {}): Promise<CorpusManifest> {
  await mkdir(join(dir, 'shards'), { recursive: true })
  opts.onProgress?.({ phase: 'list' })
  const shards = chooseShards(spec, opts.shards ?? await listHubFiles(spec.dataset, { ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}), ...(opts.signal !== undefined ? { signal: opts.signal } : {}) }))
  const existing = await readManifest(dir)
  if (existing !== undefined && sameShards(existing.shards, shards) && await flatFilesIntact(existing)) {
    opts.onProgress?.({ phase: 'ready', manifest: existing })
    return existing
  }
  const paths = await downloadAll(spec, shards, join(dir, 'shards'), opts)
  const trainPaths = paths.slice(0, -1)
  const valPath = paths[paths.length - 1]!
  const manifest = await flatten(`${spec.dataset.repo}@${spec.dataset.revision}`, shards, trainPaths, valPath, dir, opts)
  opts.onProgress?.({ phase: 'ready', manifest })
  return manifest
}

/** The corpus a folder already holds (fetched before), without asking the host: what a restart offline uses. */
export async function cachedCorpus (dir: string): Promise<CorpusManifest | undefined> {
  const manifest = await readManifest(dir)
  return manifest !== undefined && await flatFilesIntact(manifest) ? manifest : undefined
}

/** The tokenizer every profile uses: raw bytes, vocab 256 (so loss in bits is bits per byte). */
export const TOKENIZER = 'bytes-256'

/**
 * The corpus' part of a swarm's identity: the validation bytes the harness scores on and the
 * tokenizer. Daemons whose data differ in one byte never share a swarm; no pinned manifest needed.
 */
export function corpusIdentity (manifest: CorpusManifest): string {
  return sha256Hex(`swarmd-corpus/1\n${TOKENIZER}\n${manifest.val.sha256}`).slice(0, 16)
}

/**
 * A corpus from a local folder (`--corpus DIR`, a machine without internet): the same parquet
 * shards, or the flat `train.txt` and `val.txt`. Its identity is the bytes it holds, so the same
 * bytes join the same swarm as a download would.
 */
export async function localCorpus (spec: WebCorpusSpec, source: string, dir: string, opts: Pick<FetchCorpusOptions, 'onProgress'> = {}): Promise<CorpusManifest> {
  const names = new Set(await readdir(source).catch(() => { throw new SwarmdError('CORPUS_UNAVAILABLE', `corpus folder ${source} not found`) }))
  if (names.has('train.txt') && names.has('val.txt')) {
    const [train, val] = await Promise.all(['train.txt', 'val.txt'].map(async (name) => flatFileOf(join(source, name))))
    const manifest: CorpusManifest = { dataset: `local:${source}`, shards: [], train: train!, val: val! }
    opts.onProgress?.({ phase: 'ready', manifest })
    return manifest
  }
  const parquet = [...names].filter((n) => n.endsWith('.parquet')).sort()
  const train = parquet.filter((n) => n !== spec.validationShard).slice(0, spec.trainShards)
  if (!names.has(spec.validationShard) || train.length === 0) {
    throw new SwarmdError('CORPUS_UNAVAILABLE', `corpus folder ${source} holds neither train.txt and val.txt nor the parquet shards (training shards and ${spec.validationShard})`)
  }
  await mkdir(dir, { recursive: true })
  const manifest = await flatten(`local:${source}`, [], train.map((n) => join(source, n)), join(source, spec.validationShard), dir, opts)
  opts.onProgress?.({ phase: 'ready', manifest })
  return manifest
}

/** The training shards (the first `trainShards` by name) and the validation shard, last. */
function chooseShards (spec: WebCorpusSpec, files: HubFile[]): HubFile[] {
  const shards = files.filter((f) => f.path.endsWith('.parquet')).sort((a, b) => (a.path < b.path ? -1 : 1))
  const val = shards.find((f) => basename(f.path) === spec.validationShard)
  const train = shards.filter((f) => f !== val).slice(0, spec.trainShards)
  if (val === undefined) throw new SwarmdError('CORPUS_UNAVAILABLE', `${spec.dataset.repo} lists no ${spec.validationShard} (the validation shard)`)
  if (train.length < spec.trainShards) throw new SwarmdError('CORPUS_UNAVAILABLE', `${spec.dataset.repo} lists ${train.length} training shards; the profile needs ${spec.trainShards}`)
  return [...train, val]
}

async function downloadAll (spec: WebCorpusSpec, shards: HubFile[], dir: string, opts: FetchCorpusOptions): Promise<string[]> {
  const total = shards.reduce((sum, s) => sum + s.size, 0)
  const done = new Map<string, number>()
  const started = Date.now()
  const report = (): void => {
    const bytes = [...done.values()].reduce((sum, n) => sum + n, 0)
    const seconds = (Date.now() - started) / 1000
    const rate = seconds > 0 ? bytes / seconds : 0
    opts.onProgress?.({ phase: 'download', done: bytes, total, bytesPerSecond: rate, etaSeconds: rate > 0 ? (total - bytes) / rate : undefined })
  }
  const paths = new Array<string>(shards.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < shards.length) {
      const i = next++
      const shard = shards[i]!
      paths[i] = await downloadVerified(hubFileUrl(spec.dataset, shard.path), shard, join(dir, basename(shard.path)), {
        ...(opts.fetch !== undefined ? { fetch: opts.fetch } : {}),
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
        ...(opts.attempts !== undefined ? { attempts: opts.attempts } : {}),
        ...(opts.backoffMs !== undefined ? { backoffMs: opts.backoffMs } : {}),
        onProgress: (bytes) => { done.set(shard.path, bytes); report() }
      })
      done.set(shard.path, shard.size)
      report()
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, shards.length)) }, worker))
  return paths
}

async function flatten (dataset: string, shards: HubFile[], trainPaths: string[], valPath: string, dir: string, opts: Pick<FetchCorpusOptions, 'onProgress'>): Promise<CorpusManifest> {
  const train = await writeFlatText(trainPaths, join(dir, 'train.txt'), { onDocuments: (documents) => opts.onProgress?.({ phase: 'decode', split: 'train', documents }) })
  const val = await writeFlatText([valPath], join(dir, 'val.txt'), { onDocuments: (documents) => opts.onProgress?.({ phase: 'decode', split: 'val', documents }) })
  const manifest: CorpusManifest = { dataset, shards, train, val }
  await writeFile(join(dir, 'corpus.json'), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

async function readManifest (dir: string): Promise<CorpusManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'corpus.json'), 'utf8')) as CorpusManifest
  } catch {
    return undefined
  }
}

function sameShards (a: HubFile[], b: HubFile[]): boolean {
  return a.length === b.length && a.every((s, i) => s.path === b[i]!.path && s.sha256 === b[i]!.sha256 && s.size === b[i]!.size)
}

/** Whether the flat texts a manifest names are still there with their sizes (a cheap check; the harness hashes what it reads). */
async function flatFilesIntact (manifest: CorpusManifest): Promise<boolean> {
  for (const flat of [manifest.train, manifest.val]) {
    const size = await stat(flat.path).then((s) => s.size, () => -1)
    if (size !== flat.bytes) return false
  }
  return true
}

async function flatFileOf (path: string): Promise<FlatText> {
  const { sha256, bytes } = await sha256File(path)
  return { path, bytes, documents: 0, sha256 }
}
