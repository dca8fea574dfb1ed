import { createServer } from 'node:http'
import { sha256Hex } from '../../src/util/hash.js'
import type { AddressInfo } from 'node:net'
import type { Server, ServerResponse } from 'node:http'

export interface Fault { status?: number, truncateAt?: number }

/**
 * A loopback server that behaves like the hub: a paged tree listing with each file's LFS sha256
 * and size, `resolve/` URLs that redirect to storage, range requests, and faults scripted per file.
 */
export class FakeHub {
  readonly files = new Map<string, Buffer>()
  /** The sha256 the listing publishes, when it is to differ from the bytes' own. */
  readonly published = new Map<string, string>()
  /** Per path: the faults its next requests meet, in order. */
  readonly faults = new Map<string, Fault[]>()
  readonly requests: Array<{ path: string, range: string | undefined }> = []
  /** Serve file bodies this slowly: `chunkBytes` every `delayMs`. */
  throttle: { chunkBytes: number, delayMs: number } | undefined
  private server: Server | undefined
  endpoint = ''

  constructor (readonly repo: string) {}

  async start (): Promise<void> {
    this.server = createServer((req, res) => { this.handle(req.url ?? '/', req.headers.range, res) })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async stop (): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise<void>((resolve) => this.server?.close(() => { resolve() }))
  }

  private handle (url: string, range: string | undefined, res: ServerResponse): void {
    const listing = `/api/datasets/${this.repo}/tree/main`
    if (url.startsWith(listing)) {
      // Two pages: the hub pages its listing with a Link header.
      const names = [...this.files.keys()].sort()
      const second = url.includes('cursor=2')
      const page = second ? names.slice(2) : names.slice(0, 2)
      if (!second) res.setHeader('link', `<${listing}?cursor=2>; rel="next"`)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify([
        { type: 'file', oid: 'abc', size: 12, path: 'README.md' },
        ...page.map((path) => ({ type: 'file', oid: 'def', size: 130, path, lfs: { oid: this.published.get(path) ?? sha256Hex(this.files.get(path)!), size: this.files.get(path)!.byteLength, pointerSize: 130 } }))
      ]))
      return
    }
    const resolve = `/datasets/${this.repo}/resolve/main/`
    if (url.startsWith(resolve)) {
      res.statusCode = 302
      res.setHeader('location', `/storage/${url.slice(resolve.length)}`)
      res.end()
      return
    }
    const path = decodeURIComponent(url.replace('/storage/', ''))
    const bytes = this.files.get(path)
    this.requests.push({ path, range })
    if (bytes === undefined) { res.statusCode = 404; res.end(); return }
    const fault = this.faults.get(path)?.shift()
    if (fault?.status !== undefined) {
      res.statusCode = fault.status
      res.setHeader('retry-after', '0')
      res.end()
      return
    }
    const start = range !== undefined ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0
    res.statusCode = range !== undefined ? 206 : 200
    res.setHeader('content-length', String(bytes.byteLength - start))
    if (fault?.truncateAt !== undefined) {
      // Part of the body, then (once it has had time to arrive) the connection drops.
      res.write(bytes.subarray(start, fault.truncateAt), () => { setTimeout(() => { res.socket?.destroy() }, 100) })
      return
    }
    if (this.throttle === undefined) {
      res.end(bytes.subarray(start))
      return
    }
    const { chunkBytes, delayMs } = this.throttle
    const send = (from: number): void => {
      if (res.destroyed) return
      if (from >= bytes.byteLength) { res.end(); return }
      res.write(bytes.subarray(from, from + chunkBytes))
      setTimeout(() => { send(from + chunkBytes) }, delayMs)
    }
    send(start)
  }
}
