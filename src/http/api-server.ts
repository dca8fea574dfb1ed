import { createServer } from 'node:http'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import { timingSafeEqual } from 'node:crypto'
import { hostname, networkInterfaces } from 'node:os'
import { parseBlobHash } from '../p2p/blob-store.js'
import { TIERS } from '../state/record-kinds.js'
import { SwarmdError } from '../util/errors.js'
import { AgentRoutes } from './agent-routes.js'
import { connectRequest } from './api-contract.js'
import { HttpError, toHttpError } from './http-error.js'
import { EventStream } from './event-stream.js'
import { PageRoutes } from './page-routes.js'
import { STATUS_PAGE_ASSETS, statusPageHtml } from './status-page.js'
import { ResultTally } from '../claims/result-tally.js'
import { budgetLabel } from '../claims/budget.js'
import { bestResult, resultSummary, resultView, statusView } from './views.js'
import type { ApiServices, StartupView } from './api-ports.js'
import type { MetricsPort } from './metrics.js'
import type { Tier } from '../state/record-kinds.js'
import type { Clock } from '../util/clock.js'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const GZIP_FROM_BYTES = 16 * 1024
const gzipAsync = promisify(gzip)

export interface ApiServerComponents {
  /** Mutating endpoints need `Authorization: Bearer <token>`. */
  token: string
  clock: Clock
  /** Served at `GET /metrics` (Prometheus text) from the start, open like every read; absent: 404. */
  metrics?: MetricsPort
}

export interface ApiServerInit {
  host: string
  /** 0 picks a free port. */
  port: number
  /**
   * Largest request body, in bytes: two blobs plus slack, so a result's log and train.py fit in
   * one JSON body.
   */
  maxBodyBytes: number
}

/**
 * The local JSON API (under `/api/`) and the status page at `/`. Reads are open on
 * loopback; every mutation needs the data dir's token.
 */
export class ApiServer {
  private server: Server | undefined
  private services: ApiServices | undefined
  private agentRoutes: AgentRoutes | undefined
  private pageRoutes: PageRoutes | undefined
  private events: EventStream | undefined
  private tally: ResultTally | undefined
  private startupValue: StartupView = { phase: 'starting' }

  constructor (private readonly components: ApiServerComponents, private readonly init: ApiServerInit) {}

  /** What the daemon is doing until it serves (`GET /api/status` says so; every other call is 503). */
  reportStartup (view: StartupView): void { this.startupValue = view }

  /** From now on, answer every route from these services. */
  serve (services: ApiServices): void {
    this.services = services
    this.agentRoutes = new AgentRoutes({ ...services, clock: this.components.clock })
    this.pageRoutes = new PageRoutes(services)
    const tally = new ResultTally(services.claims.ledger, services.network.snapshot().peerId)
    this.tally = tally
    this.events?.close()
    this.events = new EventStream({
      ledger: services.claims.ledger,
      hypothesisCount: () => services.counts().hypothesis,
      status: async () => statusView(services, tally, this.components.clock.now()),
      summaries: (results) => {
        const marks = services.claims.duplicateMarksNow()
        return results.map((r) => resultSummary(r, services.trust.status(r.id), marks.get(r.id)))
      }
    })
  }

  get url (): string {
    const address = this.server?.address() as AddressInfo | null | undefined
    if (address == null) throw new SwarmdError('NOT_STARTED', 'the API server is not listening (call start() first)')
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`
  }

  async start (): Promise<void> {
    if (this.server !== undefined) return
    const server = createServer((req, res) => { void this.handle(req, res) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => { server.off('error', reject); resolve() })
    })
  }

  async stop (): Promise<void> {
    const server = this.server
    this.server = undefined
    this.events?.close()
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      this.checkHost(req)
      const url = new URL(req.url ?? '/', 'http://local')
      const route = `${req.method ?? 'GET'} ${url.pathname}`
      if (route === 'GET /') return this.send(res, 200, statusPageHtml(), 'text/html; charset=utf-8')
      if (route === 'GET /favicon.ico') return this.send(res, 204, '', 'image/x-icon')
      const asset = req.method === 'GET' ? STATUS_PAGE_ASSETS.get(url.pathname) : undefined
      if (asset !== undefined) return this.send(res, 200, asset.body(), asset.type, 'max-age=3600')
      // Before the swarm is joined too: a scraper sees the process and libp2p metrics of a starting daemon.
      const metrics = this.components.metrics
      if (route === 'GET /metrics' && metrics !== undefined) return this.send(res, 200, await metrics.text(), metrics.contentType)
      // Before the daemon has joined its swarm (it may be fetching its corpus), only what it is doing.
      const { services, agentRoutes, pageRoutes, events, tally } = this
      if (services === undefined || agentRoutes === undefined || pageRoutes === undefined || events === undefined || tally === undefined) {
        if (route === 'GET /api/status') return this.json(res, 200, { starting: this.startupValue })
        throw new HttpError(503, 'API_STARTING', 'the daemon is starting (see GET /api/status); try again when it has joined its swarm')
      }
      if (route === 'GET /api/status') return this.json(res, 200, await statusView(services, tally, this.components.clock.now()))
      if (route === 'GET /api/events') return events.attach(req, res)
      const page = await pageRoutes.handle(req.method ?? 'GET', url.pathname, url.searchParams)
      if (page !== undefined) return this.json(res, page.status, page.body)
      // What this daemon holds, in one line: two daemons agree iff their digests are equal (bench:chaos compares them).
      if (route === 'GET /api/digest') return this.json(res, 200, { digest: services.digest(), counts: services.counts() })
      if (route === 'GET /api/peers') return this.json(res, 200, { peers: services.network.snapshot().peers })
      if (route === 'GET /api/best') {
        const tier = url.searchParams.get('tier') ?? services.defaults.tier
        if (!(TIERS as readonly string[]).includes(tier)) throw new HttpError(400, 'API_BAD_REQUEST', `unknown tier ${tier}; one of ${TIERS.join(', ')}`)
        const best = bestResult(services, tier as Tier)
        const marks = services.claims.duplicateMarksNow()
        // Unverified results that beat the best: shown as candidates, never built on until reproduced.
        const candidates = services.trust.candidates({ tier: tier as Tier, maxSteps: services.defaults.maxSteps, than: best?.body.metrics?.val_bpb ?? null })
        return this.json(res, 200, {
          tier,
          budget: budgetLabel(services.defaults.maxSteps),
          best: best === undefined ? null : resultView(best, marks.get(best.id), services.trust.status(best.id)),
          candidates: candidates.slice(0, 10).map((r) => resultView(r, marks.get(r.id), 'unverified'))
        })
      }
      const reply = await agentRoutes.handle({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        authorize: () => { this.checkToken(req) },
        json: async () => this.readJson(req)
      })
      if (reply !== undefined) return this.json(res, reply.status, reply.body)
      if (route === 'POST /api/connect') {
        this.checkToken(req)
        const body = connectRequest.safeParse(await this.readJson(req))
        if (!body.success) throw new HttpError(400, 'API_BAD_REQUEST', 'expected {"addr": "<multiaddr>"}')
        try {
          return this.json(res, 200, await services.network.connect(body.data.addr))
        } catch (err) {
          throw new HttpError(502, 'CONNECT_FAILED', `could not connect to ${body.data.addr}: ${(err as Error).message}`)
        }
      }
      if (route === 'POST /api/blobs') {
        this.checkToken(req)
        const hash = await services.blobs.add(await this.readBody(req))
        return this.json(res, 201, { hash })
      }
      if (req.method === 'GET' && url.pathname.startsWith('/api/blobs/')) {
        const hash = parseBlobHash(url.pathname.slice('/api/blobs/'.length))
        const bytes = await services.blobs.get(hash, { signal: AbortSignal.timeout(60_000) })
        return this.send(res, 200, Buffer.from(bytes), 'application/octet-stream')
      }
      throw new HttpError(404, 'NOT_FOUND', `no route ${route}`)
    } catch (err) {
      this.fail(res, err)
    }
  }

  // DNS rebinding: a page on another origin must not reach the API through a hostname of its own.
  private checkHost (req: IncomingMessage): void {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase()
    const allowed = allowedHostNames(this.init.host)
    if (!allowed.has(host)) throw new HttpError(403, 'API_FORBIDDEN_HOST', `requests must address the daemon by ${this.init.host === '0.0.0.0' || this.init.host === '::' ? 'one of this machine\'s addresses or its host name' : this.init.host}`)
    const origin = req.headers.origin
    if (origin !== undefined && req.method !== 'GET') {
      let originHost = ''
      try { originHost = new URL(origin).hostname.replace(/^\[|\]$/g, '') } catch {}
      if (!allowed.has(originHost)) throw new HttpError(403, 'API_FORBIDDEN_ORIGIN', 'cross-site requests are refused')
    }
  }

  private checkToken (req: IncomingMessage): void {
    const header = req.headers.authorization ?? ''
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7).trim() : '')
    const expected = Buffer.from(this.components.token)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpError(401, 'API_UNAUTHORIZED', 'this call needs the token from the data dir (file api-token) as "Authorization: Bearer <token>"')
    }
  }

  private async readBody (req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req) {
      size += (chunk as Buffer).byteLength
      if (size > this.init.maxBodyBytes) throw new HttpError(413, 'API_BODY_TOO_LARGE', `request body exceeds ${this.init.maxBodyBytes} bytes`)
      chunks.push(chunk as Buffer)
    }
    return Buffer.concat(chunks)
  }

  private async readJson (req: IncomingMessage): Promise<unknown> {
    const body = await this.readBody(req)
    try {
      return JSON.parse(body.toString('utf8'))
    } catch {
      throw new HttpError(400, 'API_BAD_REQUEST', 'request body is not JSON')
    }
  }

  /** `{error: {code, message}}`, plus the fields an error carries beside it (e.g. `duplicate`). */
  private fail (res: ServerResponse, err: unknown): void {
    const http = toHttpError(err)
    void this.json(res, http.status, { error: { code: http.code, message: http.message }, ...http.details })
  }

  private async json (res: ServerResponse, status: number, body: unknown): Promise<void> {
    await this.send(res, status, JSON.stringify(body), 'application/json')
  }

  /**
   * A reply; text over `GZIP_FROM_BYTES` gzipped, in the thread pool, when the client takes it (a
   * chart of 20,000 points: 248 KiB on the wire).
   */
  private async send (res: ServerResponse, status: number, body: string | Buffer, type: string, cache = 'no-store'): Promise<void> {
    if (res.headersSent) return
    const headers: Record<string, string> = { 'content-type': type, 'cache-control': cache, 'x-content-type-options': 'nosniff' }
    let bytes = typeof body === 'string' ? Buffer.from(body) : body
    if (bytes.byteLength > GZIP_FROM_BYTES && type !== 'application/octet-stream' && /\bgzip\b/.test(String(res.req.headers['accept-encoding'] ?? ''))) {
      try {
        bytes = await gzipAsync(bytes, { level: 6 })
        headers['content-encoding'] = 'gzip'
        headers.vary = 'accept-encoding'
      } catch {
        // Sent as it is: zlib failing is no reason to lose the reply.
      }
    }
    if (res.headersSent || res.destroyed) return
    res.writeHead(status, headers)
    res.end(bytes)
  }
}

/**
 * The names a request may address the daemon by: loopback always, and the bind address; bound to
 * every interface (0.0.0.0 or ::), any address of this machine and its host name too, so a LAN
 * browser reaches the page. A rebinding page sends its own domain name, never one of these.
 */
function allowedHostNames (bindHost: string): Set<string> {
  const allowed = new Set(['127.0.0.1', 'localhost', '::1', bindHost])
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return allowed
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) allowed.add(address.address.replace(/%.*$/, ''))
  }
  const name = hostname().toLowerCase()
  allowed.add(name)
  allowed.add(`${name}.local`)
  return allowed
}
