import { z } from 'zod'
import { SwarmdError } from '../util/errors.js'

/** A dataset on a model hub that publishes each file's size and sha256 through its API. */
/** Where the gpu profile's corpus is published (`corpusHub` points elsewhere: a mirror). */
export const CORPUS_HUB = 'https://huggingface.co'

export interface HubDataset {
  /** The hub's base URL, e.g. `https://huggingface.co` (tests: a loopback server). */
  endpoint: string
  /** `owner/name` of the dataset. */
  repo: string
  revision: string
}

/** One file of a dataset with the size and sha256 its host publishes (for LFS files). */
export interface HubFile {
  path: string
  size: number
  sha256: string
}

const entry = z.object({
  type: z.string(),
  path: z.string().min(1).max(1000),
  size: z.number().int().nonnegative(),
  lfs: z.object({ oid: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }).optional()
})

/** The largest listing page accepted, bytes: a page of a thousand entries is ~300 KB. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024

/**
 * Every file of `dataset` with a published sha256 (the host's tree API, following its `Link: next`
 * pages). Files without one (a README kept in git rather than LFS) are left out: nothing could check them.
 */
export async function listHubFiles (dataset: HubDataset, opts: { fetch?: typeof fetch, signal?: AbortSignal } = {}): Promise<HubFile[]> {
  const get = opts.fetch ?? fetch
  const files: HubFile[] = []
  let url: string | undefined = `${dataset.endpoint}/api/datasets/${dataset.repo}/tree/${encodeURIComponent(dataset.revision)}`
  for (let page = 0; url !== undefined; page++) {
    if (page > 10_000) throw new SwarmdError('CORPUS_FETCH_FAILED', `the file listing of ${dataset.repo} does not end (over 10,000 pages)`)
    let response: Response
    try {
      response = await get(url, { signal: opts.signal ?? AbortSignal.timeout(60_000), headers: { accept: 'application/json' } })
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code
      throw new SwarmdError('CORPUS_FETCH_FAILED', `cannot reach ${dataset.endpoint} to list ${dataset.repo} (${cause ?? (err as Error).message}): check the network, or take the corpus from a folder with --corpus DIR`)
    }
    if (!response.ok) throw new SwarmdError('CORPUS_FETCH_FAILED', `listing the files of ${dataset.repo} failed: HTTP ${response.status} from ${url}`)
    const text = await response.text()
    if (text.length > MAX_PAGE_BYTES) throw new SwarmdError('CORPUS_FETCH_FAILED', `the file listing of ${dataset.repo} sent a page over ${MAX_PAGE_BYTES} bytes`)
    const parsed = z.array(entry).safeParse(JSON.parse(text))
    if (!parsed.success) throw new SwarmdError('CORPUS_FETCH_FAILED', `the file listing of ${dataset.repo} is not what the hub's API returns: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    for (const e of parsed.data) {
      if (e.type === 'file' && e.lfs !== undefined) files.push({ path: e.path, size: e.lfs.size, sha256: e.lfs.oid })
    }
    url = nextPage(response.headers.get('link'), url)
  }
  return files
}

/** The URL a file is downloaded from (the hub redirects it to its storage). */
export function hubFileUrl (dataset: HubDataset, path: string): string {
  return `${dataset.endpoint}/datasets/${dataset.repo}/resolve/${encodeURIComponent(dataset.revision)}/${path.split('/').map(encodeURIComponent).join('/')}`
}

/** The `rel="next"` target of a `Link` header, resolved against the page it came with. */
function nextPage (link: string | null, base: string): string | undefined {
  if (link === null) return undefined
  for (const part of link.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part)
    if (match !== null) return new URL(match[1]!, base).toString()
  }
  return undefined
}
