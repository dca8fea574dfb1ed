import type { CorpusProgress } from './web-corpus.js'

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
