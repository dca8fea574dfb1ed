import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/**
 * The status page at `/`: a static page (src/http/page/) that reads the API and then follows the
 * server-sent events at `/api/events`, and its assets under `/assets/`, uPlot among them (served
 * from the daemon: the page needs nothing outside it, and works offline). Read once, on first use.
 */

// dist/src/http/ → src/http/page/: the page's files are not compiled, the build leaves them in place.
const PAGE_DIR = fileURLToPath(new URL('../../../src/http/page/', import.meta.url))
const require = createRequire(import.meta.url)

interface Asset { type: string, body: () => Buffer }

function once (path: string): () => Buffer {
  let body: Buffer | undefined
  return () => (body ??= readFileSync(path))
}

const html = once(`${PAGE_DIR}index.html`)

export function statusPageHtml (): Buffer {
  return html()
}

/** The page's script, style and chart library, by path. */
export const STATUS_PAGE_ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['/assets/status.js', { type: 'text/javascript; charset=utf-8', body: once(`${PAGE_DIR}status.js`) }],
  ['/assets/status.css', { type: 'text/css; charset=utf-8', body: once(`${PAGE_DIR}status.css`) }],
  ['/assets/uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: once(require.resolve('uplot/dist/uPlot.iife.min.js')) }],
  ['/assets/uPlot.min.css', { type: 'text/css; charset=utf-8', body: once(require.resolve('uplot/dist/uPlot.min.css')) }]
])
