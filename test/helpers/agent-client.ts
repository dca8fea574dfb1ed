import { readFile } from 'node:fs/promises'
import { dataPaths } from '../../src/config/data-dir.js'
import { readDaemonInfo } from '../../src/daemon/daemon-info.js'
import { claimDuplicateReply, claimUncertainReply, claimReply, claimsReply, connectReply, resultReply, resultsReply, statusReply } from '../../src/http/api-contract.js'
import type { ClaimCounts, ClaimDuplicate, ClaimJson, ClaimRequestBody, PublishRequestBody, ResultJson } from '../../src/http/api-contract.js'
import type { z } from 'zod'

/** A claim refused as a duplicate: what the agent API's 409 names (the contract's `duplicate`). */
export type DuplicateAnswer = ClaimDuplicate
export type ClaimAnswer = { claimed: ClaimJson } | { duplicate: DuplicateAnswer, code: string, message: string }
  /** The grey band: what the claim may repeat, for the agent to judge (then claim again with `distinctFrom`). */
  | { uncertain: DuplicateAnswer[], code: string, message: string }
/** What an agent sends to claim an experiment, and to publish its run: the contract's request bodies. */
export type ClaimInput = ClaimRequestBody
export type PublishInput = PublishRequestBody

/** An answer the test did not expect: the status, the error code and the whole body, for the failure message. */
export class AgentApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly body: unknown) {
    super(`${status} ${code}: ${message}`)
    this.name = 'AgentApiError'
  }
}

// A claim answers after the settle window, a publish after storing two blobs: far below this
// even on a loaded 2-core box; the deadline only turns a hung daemon into a clear failure.
const REQUEST_TIMEOUT_MS = 60_000

/**
 * What a test "agent" uses to drive its own loop against one daemon's agent API
 * (claim → heartbeat → publish), with the token from the daemon's data dir, as the CLI does.
 */
export class AgentClient {
  constructor (readonly apiUrl: string, private readonly token: string, readonly name = apiUrl) {}

  /** The client for the daemon running on this data dir (its daemon.json and api-token). */
  static async forDataDir (dataDir: string, name?: string): Promise<AgentClient> {
    const paths = dataPaths(dataDir)
    const info = await readDaemonInfo(paths.daemonInfo)
    const token = (await readFile(paths.apiToken, 'utf8')).trim()
    return new AgentClient(info.api, token, name)
  }

  /** Claim an experiment: the claim once it stands (201), or what it duplicates (409 CLAIM_DUPLICATE). */
  async claim (input: ClaimInput): Promise<ClaimAnswer> {
    const { status, body } = await this.request('POST', '/api/claims', input)
    if (status === 201) return { claimed: claimReply.parse(body).claim }
    const error = errorOf(body)
    if (status === 409 && error.code === 'CLAIM_DUPLICATE') {
      return { duplicate: claimDuplicateReply.parse(body).duplicate, code: error.code, message: error.message }
    }
    if (status === 409 && error.code === 'CLAIM_UNCERTAIN') {
      return { uncertain: claimUncertainReply.parse(body).candidates, code: error.code, message: error.message }
    }
    throw new AgentApiError(status, error.code, error.message, body)
  }

  async heartbeat (claimId: string): Promise<ClaimJson> {
    return (await this.expect(claimReply, 200, 'POST', `/api/claims/${claimId}/heartbeat`)).claim
  }

  async release (claimId: string): Promise<ClaimJson> {
    return (await this.expect(claimReply, 200, 'POST', `/api/claims/${claimId}/release`)).claim
  }

  async publish (input: PublishInput): Promise<ResultJson> {
    return (await this.expect(resultReply, 201, 'POST', '/api/results', input)).result
  }

  /** One claim as this daemon sees it, or undefined while it has not arrived (404). */
  async getClaim (claimId: string): Promise<ClaimJson | undefined> {
    const { status, body } = await this.request('GET', `/api/claims/${claimId}`)
    if (status === 404) return undefined
    if (status !== 200) throw new AgentApiError(status, errorOf(body).code, errorOf(body).message, body)
    return claimReply.parse(body).claim
  }

  /** Every claim this daemon knows, newest first. */
  async claims (): Promise<ClaimJson[]> {
    return (await this.expect(claimsReply, 200, 'GET', '/api/claims')).claims
  }

  async results (): Promise<ResultJson[]> {
    return (await this.expect(resultsReply, 200, 'GET', '/api/results')).results
  }

  async claimCounts (): Promise<ClaimCounts> {
    return (await this.expect(statusReply, 200, 'GET', '/api/status')).claims
  }

  /** Dial another daemon (POST /api/connect); resolves with its peer id. */
  async connect (addr: string): Promise<string> {
    return (await this.expect(connectReply, 200, 'POST', '/api/connect', { addr })).peerId
  }

  /** A request whose answer must have this status and parse with its contract schema; anything else throws with the daemon's error. */
  async expect<T> (reply: z.ZodType<T>, expected: number, method: string, path: string, payload?: unknown): Promise<T> {
    const { status, body } = await this.request(method, path, payload)
    if (status !== expected) {
      const error = errorOf(body)
      throw new AgentApiError(status, error.code, `${method} ${path} on ${this.name}: ${error.message}`, body)
    }
    return reply.parse(body)
  }

  async request (method: string, path: string, payload?: unknown): Promise<{ status: number, body: unknown }> {
    const headers: Record<string, string> = {}
    if (method !== 'GET') headers.authorization = `Bearer ${this.token}`
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(new URL(path, this.apiUrl), {
      method,
      headers,
      ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    })
    const text = await res.text()
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status: res.status, body }
  }
}

function errorOf (body: unknown): { code: string, message: string } {
  const error = (body as { error?: { code?: string, message?: string } } | undefined)?.error
  return { code: error?.code ?? 'UNKNOWN', message: error?.message ?? JSON.stringify(body) }
}

/**
 * The stdout of a finished run as train.py prints it: progress lines, then the summary block
 * the daemon parses (src/runner/summary.ts). What a test agent publishes instead of training.
 */
export function runLog (valBpb: number, opts: { steps?: number, seconds?: number } = {}): string {
  const steps = opts.steps ?? 100
  const seconds = opts.seconds ?? 20
  return [
    `progress: step 1 loss ${(valBpb + 3).toFixed(4)} bpb lr 1.00e-03 1/${steps} steps`,
    `progress: step ${steps} loss ${(valBpb + 0.05).toFixed(4)} bpb lr 0.00e+00 ${steps}/${steps} steps`,
    '---',
    `val_bpb: ${valBpb.toFixed(6)}`,
    `training_seconds: ${seconds.toFixed(1)}`,
    `total_seconds: ${(seconds + 2).toFixed(1)}`,
    'peak_vram_mb: 0.0',
    'mfu_percent: 0.00',
    `total_tokens_M: ${(steps * 16 * 256 / 1e6).toFixed(3)}`,
    `num_steps: ${steps}`,
    'num_params_M: 0.10',
    'depth: 2',
    ''
  ].join('\n')
}
