import { request } from 'node:http'

/** A reply as the API safety checks read it: the status and the error code, if any. */
export interface RawReply { status: number, code: string | undefined }

/** Raw HTTP, so the test sets the Host and Origin headers a browser (or a rebinding page) would send. */
export async function rawCall (base: string, method: string, path: string, headers: Record<string, string>, body?: string | Uint8Array): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { method, headers, signal: AbortSignal.timeout(10_000) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        let code: string | undefined
        try { code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: string } }).error?.code } catch {}
        resolve({ status: res.statusCode ?? 0, code })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}
