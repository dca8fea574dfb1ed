import { dataPaths } from '../config/data-dir.js'
import { progressPrinter } from '../corpus/progress.js'
import { CORPUS_HUB } from '../corpus/hub-listing.js'
import { climbmixAt, fetchWebCorpus, localCorpus, readShardList } from '../corpus/web-corpus.js'
import type { CorpusManifest } from '../corpus/web-corpus.js'

export interface CorpusFetchOptions {
  /** A local folder of the shards or of train.txt and val.txt, for a machine without internet. */
  corpus?: string
  /** A shard list ({"shards": [{path, size, sha256}]}) that wins over the host's listing. */
  manifest?: string
  json: boolean
}

/** The gpu profile's corpus folder in a data dir. */
export function webCorpusDir (dataDir: string): string {
  return dataPaths(dataDir).webCorpus
}

/** `swarmd corpus fetch`: download, verify and flatten the gpu profile's corpus ahead of time. */
export async function corpusFetchCommand (dataDir: string, opts: CorpusFetchOptions, print: (line: string) => void, tty = process.stderr.isTTY === true): Promise<CorpusManifest> {
  const dir = webCorpusDir(dataDir)
  const progress = progressPrinter(tty, (text) => { process.stderr.write(text) })
  // A mirror of the host, as the daemon's `corpusHub` (same variable).
  const spec = climbmixAt(process.env.SWARMD_CORPUS_HUB ?? CORPUS_HUB)
  const manifest = opts.corpus !== undefined
    ? await localCorpus(spec, opts.corpus, dir, { onProgress: progress })
    : await fetchWebCorpus(spec, dir, { onProgress: progress, ...(opts.manifest !== undefined ? { shards: await readShardList(opts.manifest) } : {}) })
  if (opts.json) print(JSON.stringify(manifest, null, 2))
  else {
    print(`corpus ready in ${dir}: train ${mb(manifest.train.bytes)} (sha256 ${manifest.train.sha256.slice(0, 16)}…), validation ${mb(manifest.val.bytes)} (sha256 ${manifest.val.sha256.slice(0, 16)}…)`)
  }
  return manifest
}

function mb (bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}
