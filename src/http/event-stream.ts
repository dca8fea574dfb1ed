import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ResearchLedger, ResultEntry } from '../claims/research-ledger.js'
import type { ResultSummaryJson, StatusJson } from './api-contract.js'

export interface EventStreamComponents {
  ledger: ResearchLedger
  /** Hypotheses held (the page reads them again when it moves). */
  hypothesisCount: () => number
  status: () => Promise<StatusJson>
  /** New results as the page shows them (their trust and duplicate marks read once for the batch). */
  summaries: (results: ResultEntry[]) => ResultSummaryJson[]
}

export interface EventStreamInit {
  /** How often new records are looked for and pushed. */
  tickMs: number
  /** How often the status (the page's glance, peers, the live run) is pushed. */
  statusEveryMs: number
  /** A comment line this often keeps proxies and browsers from closing an idle stream. */
  keepAliveMs: number
  /** Streams open at once; past it the oldest is closed for the new one, so tabs left open cannot pile up. */
  maxClients: number
  /** Results pushed one by one per tick; past it, a `reset` tells the page to read its window again. */
  maxBatch: number
  /** A stream whose reader falls this far behind is closed (the browser reconnects and reads afresh). */
  maxBufferedBytes: number
}

export const EVENT_STREAM_DEFAULTS: EventStreamInit = { tickMs: 1_000, statusEveryMs: 3_000, keepAliveMs: 15_000, maxClients: 16, maxBatch: 100, maxBufferedBytes: 4 * 1024 * 1024 }

/**
 * Server-sent events at `/api/events`: what changed, pushed, so the status page never polls.
 * Events: `status` (the full status, every `statusEveryMs`), `results` (new results as summaries,
 * oldest first), `reset` (too many at once, or a conviction hid some: read again), `verifications`
 * and `claims` (how many arrived: trust or the running claims moved), `hypotheses` (their count).
 * One timer serves every stream, and runs only while one is open.
 */
export class EventStream {
  private readonly clients = new Set<ServerResponse>()
  private timer: NodeJS.Timeout | undefined
  private cursor = 0
  private convictions = 0
  private hypothesisCount = 0
  private lastStatusAt = -Infinity
  private lastWriteAt = 0
  private ticking = false

  constructor (private readonly components: EventStreamComponents, private readonly init: EventStreamInit = EVENT_STREAM_DEFAULTS) {}

  /** Take `res` as a stream until the browser goes. */
  attach (req: IncomingMessage, res: ServerResponse): void {
    // Full: the oldest stream goes, not the newest, so streams opened and left unread cannot shut the volunteer's page out.
    const oldest = this.clients.size >= this.init.maxClients ? this.clients.values().next().value : undefined
    if (oldest !== undefined) {
      this.clients.delete(oldest)
      oldest.destroy()
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' })
    res.write('retry: 3000\n\n')
    // With no stream open nothing was pushed: what arrived meanwhile, the page has just read.
    if (this.clients.size === 0) this.skipToNow()
    this.clients.add(res)
    req.once('close', () => { this.clients.delete(res); if (this.clients.size === 0) this.stopTimer() })
    // The new page gets the status at once, not after the next period.
    this.lastStatusAt = -Infinity
    if (this.timer === undefined) this.timer = setInterval(() => { void this.tick() }, this.init.tickMs)
    void this.tick()
  }

  private skipToNow (): void {
    const { ledger } = this.components
    this.cursor = ledger.arrivalCount
    this.convictions = ledger.convictions
    this.hypothesisCount = this.components.hypothesisCount()
  }

  close (): void {
    this.stopTimer()
    for (const res of this.clients) res.end()
    this.clients.clear()
  }

  private stopTimer (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private async tick (): Promise<void> {
    if (this.ticking || this.clients.size === 0) return
    this.ticking = true
    try {
      const now = Date.now()
      this.pushRecords()
      if (now - this.lastStatusAt >= this.init.statusEveryMs) {
        this.lastStatusAt = now
        this.send('status', await this.components.status())
      }
      if (now - this.lastWriteAt >= this.init.keepAliveMs) this.write(': keep-alive\n\n')
    } catch {
      // A status that failed to build is tried again next period; the streams stay open.
    } finally {
      this.ticking = false
    }
  }

  private pushRecords (): void {
    const { ledger } = this.components
    const arrivals = ledger.arrivalsSince(this.cursor)
    this.cursor += arrivals.length
    if (ledger.convictions !== this.convictions) {
      this.convictions = ledger.convictions
      this.send('reset', { why: 'conviction' })
    } else {
      const results = arrivals.flatMap((a) => (a.kind === 'result' && !ledger.isConvicted(a.entry.author) ? [a.entry] : []))
      if (results.length > this.init.maxBatch) this.send('reset', { why: 'many', results: results.length })
      else if (results.length > 0) this.send('results', this.components.summaries(results))
    }
    const verifications = arrivals.filter((a) => a.kind === 'verification').length
    if (verifications > 0) this.send('verifications', { count: verifications })
    const claims = arrivals.filter((a) => a.kind === 'claim').length
    if (claims > 0) this.send('claims', { count: claims })
    const hypothesisCount = this.components.hypothesisCount()
    if (hypothesisCount !== this.hypothesisCount) {
      this.hypothesisCount = hypothesisCount
      this.send('hypotheses', { count: hypothesisCount })
    }
  }

  private send (event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }

  private write (text: string): void {
    this.lastWriteAt = Date.now()
    for (const res of this.clients) {
      if (res.writableLength > this.init.maxBufferedBytes) {
        this.clients.delete(res)
        res.destroy()
        continue
      }
      res.write(text)
    }
  }
}
