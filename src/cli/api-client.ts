import { readFile } from 'node:fs/promises'
import { dataPaths } from '../config/data-dir.js'
import { readDaemonInfo } from '../daemon/daemon-info.js'
import { SwarmdError } from '../util/errors.js'
import type { DaemonInfo } from '../daemon/daemon-info.js'
import type { z } from 'zod'

/** An API error as the daemon reported it; `body` is the whole JSON answer (e.g. a claim's `duplicate`). */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly body: unknown = undefined) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Talks to the daemon that runs for a data dir, over its local HTTP API. */
export class ApiClient {
  private constructor (readonly info: DaemonInfo, private readonly token: string | undefined) {}

  static async forDataDir (dataDir: string): Promise<ApiClient> {
    const paths = dataPaths(dataDir)
    const info = await readDaemonInfo(paths.daemonInfo)
    const token = await readFile(paths.apiToken, 'utf8').then((t) => t.trim(), () => undefined)
    return new ApiClient(info, token)
  }

  /** GET a JSON reply, parsed with its schema from the API contract (src/http/api-contract.ts). */
  async getJson<T> (path: string, reply: z.ZodType<T>): Promise<T> {
    return this.json(await this.request('GET', path), reply, `GET ${path}`)
  }

  async postJson<T> (path: string, body: unknown, reply: z.ZodType<T>): Promise<T> {
    return this.json(await this.request('POST', path, JSON.stringify(body), 'application/json'), reply, `POST ${path}`)
  }

  async postBytes<T> (path: string, body: Uint8Array, reply: z.ZodType<T>): Promise<T> {
    return this.json(await this.request('POST', path, body, 'application/octet-stream'), reply, `POST ${path}`)
  }

  async getBytes (path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const res = await this.request('GET', path, undefined, undefined, options.signal)
    if (!res.ok) await this.throwFor(res)
    return new Uint8Array(await res.arrayBuffer())
  }

  private async request (method: string, path: string, body?: string | Uint8Array, type?: string, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {}
    if (type !== undefined) headers['content-type'] = type
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    try {
      return await fetch(new URL(path, this.info.api), { method, headers, body, ...(signal !== undefined ? { signal } : {}) })
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw new SwarmdError('DAEMON_NOT_RUNNING', `the daemon at ${this.info.api} does not answer (${(err as Error).message}); is it still running? Start it with \`swarmd start\``)
    }
  }

  private async json<T> (res: Response, reply: z.ZodType<T>, call: string): Promise<T> {
    if (!res.ok) await this.throwFor(res)
    const parsed = reply.safeParse(await res.json().catch(() => undefined))
    if (parsed.success) return parsed.data
    const issue = parsed.error.issues[0]
    throw new SwarmdError('API_REPLY_INVALID', `the daemon at ${this.info.api} answered ${call} with a body this swarmd does not understand (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); are the daemon and this command the same version?`)
  }

  private async throwFor (res: Response): Promise<never> {
    let code = 'HTTP_ERROR'
    let message = `${res.status} ${res.statusText}`
    let body: unknown
    try {
      body = await res.json()
      const error = (body as { error?: { code?: string, message?: string } }).error
      code = error?.code ?? code
      message = error?.message ?? message
    } catch {}
    throw new ApiError(res.status, code, message, body)
  }
}
