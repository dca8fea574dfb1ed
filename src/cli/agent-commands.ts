import { readUserFile } from './user-files.js'
import type { z } from 'zod'
import { ApiClient, ApiError } from './api-client.js'
import { CliError, EXIT } from './exit-codes.js'
import { claimDuplicateReply, claimReply, claimUncertainReply, claimsReply, hypothesesReply, hypothesisDuplicateReply, hypothesisReply, resultReply } from '../http/api-contract.js'
import type { ClaimDuplicate, HypothesisJson } from '../http/api-contract.js'
import type { DeltaEntry } from '../state/record-kinds.js'

type Print = (line: string) => void

export interface ClaimOptions {
  description: string
  /** A train.py file: its text is stored as a blob and diffed against the parent's. */
  code?: string
  /** A result id (or unique prefix), or `none` for the harness default; omitted: the tier's best. */
  parent?: string
  hypothesis?: string
  ttlMs?: number
  /** Claims or results a CLAIM_UNCERTAIN answer listed that the agent judged different. */
  distinctFrom?: string[]
  json: boolean
}

export async function claimCommand (dataDir: string, opts: ClaimOptions, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const body: Record<string, unknown> = { description: opts.description }
  if (opts.code !== undefined) body.code = await readText(opts.code, '--code')
  if (opts.parent !== undefined) body.parent = opts.parent === 'none' ? null : opts.parent
  if (opts.hypothesis !== undefined) body.hypothesis = opts.hypothesis
  if (opts.ttlMs !== undefined) body.ttlMs = opts.ttlMs
  if (opts.distinctFrom !== undefined && opts.distinctFrom.length > 0) body.distinctFrom = opts.distinctFrom
  try {
    const { claim } = await client.postJson('/api/claims', body, claimReply)
    print(opts.json ? JSON.stringify(claim, null, 2) : claim.id)
  } catch (err) {
    const candidates = uncertainOf(err)
    if (candidates !== undefined) {
      if (opts.json) print(JSON.stringify({ candidates }, null, 2))
      throw new CliError(EXIT.UNCERTAIN, 'CLAIM_UNCERTAIN', describeUncertain(candidates))
    }
    const duplicate = duplicateOf(err, 'CLAIM_DUPLICATE', claimDuplicateReply)
    if (duplicate === undefined) throw err
    if (opts.json) print(JSON.stringify({ duplicate }, null, 2))
    throw new CliError(EXIT.DUPLICATE, 'CLAIM_DUPLICATE', describeDuplicate(duplicate))
  }
}

/** One line naming what a refused claim repeats: kind, id, author, layer (with the score) and description. */
export function describeDuplicate (d: ClaimDuplicate): string {
  const how = d.layer === 'exact'
    ? 'the same train.py (exact)'
    : d.layer === 'structured'
      ? 'the same constant change on the same parent (structured)'
      : d.layer === 'code'
        ? `the same code change written another way (code${d.score === null ? '' : `, similarity ${d.score.toFixed(2)}`})`
        : `the same idea in other words (semantic${d.score === null ? '' : `, similarity ${d.score.toFixed(2)}`})`
  const what = d.conflict.kind === 'result' ? 'already ran as result' : 'is already claimed by claim'
  return `this experiment ${what} ${d.conflict.id} by ${d.conflict.author}: ${how}: "${d.conflict.description}"; pick another experiment`
}

/** What a grey-band claim may repeat, one per line, and how to go on. */
export function describeUncertain (candidates: ClaimDuplicate[]): string {
  const lines = candidates.map((c) => `  ${c.conflict.kind} ${c.conflict.id} by ${c.conflict.author} (similarity ${c.score?.toFixed(2) ?? '?'}): "${c.conflict.description}"`)
  return `this experiment may repeat what the swarm has (too close to call):\n${lines.join('\n')}\nif yours is a different experiment, claim it again with ${candidates.map((c) => `--distinct-from ${c.conflict.id.slice(0, 12)}`).join(' ')}; else pick another`
}

export async function heartbeatCommand (dataDir: string, id: string, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { claim } = await client.postJson(`/api/claims/${encodeURIComponent(id)}/heartbeat`, {}, claimReply)
  print(`${claim.id} active until ${new Date(claim.expiresAt).toISOString()}; heartbeat again within ${seconds(claim.ttlMs / 3)}`)
}

export async function releaseCommand (dataDir: string, id: string, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { claim } = await client.postJson(`/api/claims/${encodeURIComponent(id)}/release`, {}, claimReply)
  print(`released ${claim.id}: the experiment is claimable again`)
}

export async function claimsCommand (dataDir: string, opts: { active: boolean, json: boolean }, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { claims } = await client.getJson(`/api/claims${opts.active ? '?status=active' : ''}`, claimsReply)
  if (opts.json) return print(JSON.stringify(claims, null, 2))
  if (claims.length === 0) return print(opts.active ? 'no active claims' : 'no claims yet: `swarmd claim "DESC" --code train.py` makes one')
  for (const c of claims) {
    const until = c.status === 'active' ? `until ${new Date(c.expiresAt).toISOString().slice(11, 19)}` : (c.releaseReason ?? '')
    print(`${c.id.slice(0, 12)}  ${c.status.padEnd(8)} ${until.padEnd(14)} ${c.author.slice(-8)}  ${c.description}`)
  }
}

export interface PublishOptions {
  claim: string
  log: string
  code: string
  status?: 'keep' | 'discard' | 'crash'
  json: boolean
}

export async function publishCommand (dataDir: string, opts: PublishOptions, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const body: Record<string, unknown> = {
    claim: opts.claim,
    log: await readText(opts.log, '--log'),
    code: await readText(opts.code, '--code')
  }
  if (opts.status !== undefined) body.status = opts.status
  const { result } = await client.postJson('/api/results', body, resultReply)
  if (opts.json) return print(JSON.stringify(result, null, 2))
  const score = result.metrics === null ? `crash (${result.crash?.reason ?? 'no summary'})` : `val_bpb ${result.metrics.val_bpb.toFixed(6)}`
  print(`${result.id} ${result.status} ${score}`)
}

export interface HypothesisAddOptions {
  title: string
  text: string
  priority?: number
  /** `NAME=FROM:TO` changes of train.py's module-level constants the idea suggests. */
  delta?: string[]
  /** Result ids the idea rests on. */
  evidence?: string[]
  json: boolean
}

export async function hypothesisAddCommand (dataDir: string, opts: HypothesisAddOptions, print: Print): Promise<void> {
  const body: Record<string, unknown> = { title: opts.title, text: opts.text }
  if (opts.priority !== undefined) body.priority = opts.priority
  if (opts.delta !== undefined && opts.delta.length > 0) body.suggestedDelta = opts.delta.map(parseDeltaFlag)
  if (opts.evidence !== undefined && opts.evidence.length > 0) body.evidence = opts.evidence
  const client = await ApiClient.forDataDir(dataDir)
  try {
    const { hypothesis } = await client.postJson('/api/hypotheses', body, hypothesisReply)
    print(opts.json ? JSON.stringify(hypothesis, null, 2) : hypothesis.id)
  } catch (err) {
    const duplicate = duplicateOf(err, 'HYPOTHESIS_DUPLICATE', hypothesisDuplicateReply)
    if (duplicate === undefined) throw err
    if (opts.json) print(JSON.stringify({ duplicate }, null, 2))
    const score = duplicate.score === null ? '' : `, similarity ${duplicate.score.toFixed(2)}`
    throw new CliError(EXIT.DUPLICATE, 'HYPOTHESIS_DUPLICATE', `hypothesis ${duplicate.id} "${duplicate.title}" by ${duplicate.author} already says this${score}; see \`swarmd hypothesis show ${duplicate.id.slice(0, 12)}\` and test it instead`)
  }
}

export async function hypothesisListCommand (dataDir: string, json: boolean, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { hypotheses } = await client.getJson('/api/hypotheses', hypothesesReply)
  if (json) return print(JSON.stringify(hypotheses, null, 2))
  if (hypotheses.length === 0) return print('no hypotheses yet: add one with `swarmd hypothesis add TITLE --text ...`')
  for (const h of hypotheses) {
    print(`${h.id.slice(0, 12)}  ${h.state.padEnd(7)} p${h.priority}  ${new Date(h.createdAt).toISOString()}  ${h.title}${h.text === '' ? '' : ` — ${h.text}`}`)
  }
}

export async function hypothesisShowCommand (dataDir: string, id: string, json: boolean, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const h = await hypothesisOf(client, id)
  if (json) return print(JSON.stringify(h, null, 2))
  print(`${h.title}`)
  print(`id        ${h.id}`)
  print(`author    ${h.author}  ${new Date(h.createdAt).toISOString()}`)
  print(`state     ${h.state}, priority ${h.priority}`)
  if (h.text !== '') print(`text      ${h.text}`)
  if (h.suggestedDelta.length > 0) print(`suggests  ${h.suggestedDelta.map((d) => `${d.name} ${String(d.from)} → ${String(d.to)}`).join(', ')}`)
  if (h.evidence.length > 0) print(`evidence  ${h.evidence.join(' ')}`)
  for (const c of h.claims) print(`claimed   ${c}`)
  for (const o of h.outcomes) print(`outcome   ${o.result.slice(0, 12)} ${o.status} ${o.valBpb === null ? '' : `val_bpb ${o.valBpb.toFixed(6)}`}`)
}

async function hypothesisOf (client: ApiClient, id: string): Promise<HypothesisJson> {
  const { hypothesis } = await client.getJson(`/api/hypotheses/${encodeURIComponent(id)}`, hypothesisReply)
  return hypothesis
}

async function readText (path: string, flag: string): Promise<string> {
  return (await readUserFile(path, flag)).toString('utf8')
}

function uncertainOf (err: unknown): ClaimDuplicate[] | undefined {
  if (!(err instanceof ApiError) || err.code !== 'CLAIM_UNCERTAIN') return undefined
  const parsed = claimUncertainReply.safeParse(err.body)
  return parsed.success ? parsed.data.candidates : undefined
}

/** The `duplicate` of a 409 with this code, as the contract's schema parses it; undefined for any other error. */
function duplicateOf<T> (err: unknown, code: string, reply: z.ZodType<{ duplicate: T }>): T | undefined {
  if (!(err instanceof ApiError) || err.code !== code) return undefined
  const parsed = reply.safeParse(err.body)
  return parsed.success ? parsed.data.duplicate : undefined
}

/** `NAME=FROM:TO`, values as in train.py: `LEARNING_RATE=0.01:0.02`, `USE_ROPE=False:True`. */
export function parseDeltaFlag (text: string): DeltaEntry {
  const match = /^([A-Z][A-Z0-9_]*)=(.*):(.*)$/.exec(text.trim())
  if (match === null) throw new CliError(EXIT.USAGE, 'CLI_BAD_DELTA', `--delta "${text}": expected NAME=FROM:TO, e.g. LEARNING_RATE=0.01:0.02`)
  return { name: match[1]!, from: literal(match[2]!), to: literal(match[3]!) }
}

function literal (text: string): string | number | boolean {
  const t = text.trim()
  if (t === 'True' || t === 'true') return true
  if (t === 'False' || t === 'false') return false
  if (t !== '' && Number.isFinite(Number(t))) return Number(t)
  return t.replace(/^(['"])(.*)\1$/, '$2')
}

function seconds (ms: number): string {
  return ms >= 120_000 ? `${Math.floor(ms / 60_000)} min` : `${Math.max(1, Math.floor(ms / 1000))} s`
}
