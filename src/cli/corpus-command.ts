import { join } from 'node:path'
import { dataPaths } from '../config/data-dir.js'
import { CLIMBMIX, fetchWebCorpus, localCorpus, readShardList } from '../corpus/web-corpus.js'
import type { CorpusManifest, CorpusProgress } from '../corpus/web-corpus.js'

export interface CorpusFetchOptions {
  /** A local folder of the shards or of train.txt and val.txt, for a machine without internet. */
  corpus?: string
  /** A shard list ({"shards": [{path, size, sha256}]}) that wins over the host's listing. */
  manifest?: string
  json: boolean
}

/** The gpu profile's corpus folder in a data dir. */
export function webCorpusDir (dataDir: string): string {
  return join(dataPaths(dataDir).root, 'corpus', 'web')
}

/** `swarmd corpus fetch`: download, verify and flatten the gpu profile's corpus ahead of time. */
export async function corpusFetchCommand (dataDir: string, opts: CorpusFetchOptions, print: (line: string) => void, tty = process.stderr.isTTY === true): Promise<CorpusManifest> {
  const dir = webCorpusDir(dataDir)
  const progress = progressPrinter(tty, (text) => { process.stderr.write(text) })
  const manifest = opts.corpus !== undefined
    ? await localCorpus(CLIMBMIX, opts.corpus, dir, { onProgress: progress })
    : await fetchWebCorpus(CLIMBMIX, dir, { onProgress: progress, ...(opts.manifest !== undefined ? { shards: await readShardList(opts.manifest) } : {}) })
  if (opts.json) print(JSON.stringify(manifest, null, 2))
  else {
    print(`corpus ready in ${dir}: train ${mb(manifest.train.bytes)} (sha256 ${manifest.train.sha256.slice(0, 16)}…), validation ${mb(manifest.val.bytes)} (sha256 ${manifest.val.sha256.slice(0, 16)}…)`)
  }
  return manifest
}

/**
 * Progress on a terminal: one line redrawn (bytes, rate, ETA); elsewhere (a log): a line at every
 * tenth of the download and at each phase.
 */
export function progressPrinter (tty: boolean, write: (text: string) => void): (event: CorpusProgress) => void {
  let lastTenth = -1
  return (event) => {
    switch (event.phase) {
      case 'list':
        write('corpus: listing the shards and their checksums…\n')
        return
      case 'download': {
        const line = `corpus: ${mb(event.done)} of ${mb(event.total)} (${mb(event.bytesPerSecond)}/s${event.etaSeconds !== undefined ? `, ${Math.ceil(event.etaSeconds)} s left` : ''})`
        if (tty) {
          write(`\r${bar(event.done / Math.max(1, event.total))} ${line}\u001b[K${event.done === event.total ? '\n' : ''}`)
          return
        }
        const tenth = Math.floor(10 * event.done / Math.max(1, event.total))
        if (tenth > lastTenth) {
          lastTenth = tenth
          write(`${line}\n`)
        }
        return
      }
      case 'decode':
        if (tty) write(`\rcorpus: flattening the ${event.split === 'train' ? 'training' : 'validation'} split: ${event.documents} documents\u001b[K`)
        return
      case 'ready':
        if (tty) write('\n')
    }
  }
}

function bar (fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * 24)
  return `[${'#'.repeat(filled)}${'.'.repeat(24 - filled)}]`
}

function mb (bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}
