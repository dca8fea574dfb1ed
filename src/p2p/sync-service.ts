import { peerIdFromString } from '@libp2p/peer-id'
import { rangeOf } from './inbound-limiter.js'
import { boundedLpStream, isMalformedFrame } from './length-prefix.js'
import { MAX_SYNC_FRAME_BYTES, UpdateAssembler, chunkUpdate, decodeSyncFrame, encodeSyncFrame } from './sync-codec.js'
import { MIN_TRANSFER_BYTES_PER_S, TransferWatch } from './transfer-watch.js'
import { SwarmdError, isSwarmdError } from '../util/errors.js'
import { SerialQueue } from '../util/serial-queue.js'
import { systemClock } from '../util/clock.js'
import { deadline } from '../util/deadline.js'
import type { Clock } from '../util/clock.js'
import type { PeerPenalties } from './peer-penalties.js'
import type { SyncServeBudget } from './sync-serve-budget.js'
import type { ReplicaPort } from './replica-port.js'
import type { SwarmdLibp2p } from './libp2p-node.js'
import type { Rng } from '../util/rng.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

/** Bytes of a frame's own header and type beside the state vector it carries. */
const SYNC_FRAME_HEADROOM = 64

export interface SyncServiceComponents {
  libp2p: SwarmdLibp2p
  replica: ReplicaPort
  penalties: PeerPenalties
  rng: Rng
  /** What answering sync may cost per peer and address range; absent: no limit. */
  budget?: SyncServeBudget
  /** Disconnect and block a peer that crossed the strike limit. */
  punish(peer: PeerId): void
  /** For backing off a peer whose pull stalled; default the system clock. */
  clock?: Clock
}

export interface SyncServiceInit {
  /** Protocol id, e.g. `/swarmd/<swarm>/sync/1`. */
  protocol: string
  /** Pull from one random peer this often, in ms. Default 30 s. */
  antiEntropyMs?: number
  /** One pull may take this long, in ms. Default 60 s (10,000 records take ~2 s on loopback). */
  pullTimeoutMs?: number
  /**
   * The pace window, ms: a pull that brings less than 4 KiB/s over it (silence or a trickle) is
   * dropped, without a strike. Default 15 s.
   */
  idleMs?: number
  /** Largest single update accepted over sync. Default 64 MiB. */
  maxUpdateBytes?: number
}

export interface SyncStats {
  pulls: number
  failedPulls: number
  updatesReceived: number
  bytesReceived: number
  bytesSent: number
}

/**
 * Updates one sync answer carries at most (plus the one diff that crosses it, a client part of
 * ~512 KiB). The puller's stream buffers what it has not read yet up to 4 MiB (libp2p's byteStream;
 * past that it aborts), and applying can be slower than the link: claims and results cost more
 * to apply than they take to send, and a whole answer of 6.6 MiB killed every pull of a joiner
 * (bench:join). A longer answer goes in pages, each asked for with the state vector the last
 * one left (`done` flagged `more`).
 */
export const SYNC_PAGE_BYTES = 2 * 1024 * 1024

/**
 * A peer whose pull stalled (too slow for the pace, or past the deadline), or whose answer held an
 * update this node could not take, is not pulled from again for this long, ms, reconnect or not:
 * its next answer would cost the same (an outside attack replayed one ignored 15 MiB update every
 * second, 7-15 s of event loop each; another reconnected to clear the wait). Short, because an
 * honest peer behind a lossy link stalls too, and other peers hold what it holds.
 */
export const STALLED_PEER_BACKOFF_MS = 60_000

/** How long one pull holds the pull queue before the next may start beside it, ms. */
export const SLOW_PULL_MS = 5_000

/**
 * State-vector sync: on every new connection, both sides pull what they lack; then
 * periodic anti-entropy with a random peer. Catches up after offline time and partitions.
 */
export class SyncService {
  private readonly protocol: string
  private readonly antiEntropyMs: number
  private readonly pullTimeoutMs: number
  private readonly idleMs: number
  private readonly maxUpdateBytes: number
  private readonly inFlight = new Map<string, Promise<void>>()
  // Pulls run one at a time: a daemon back from a partition connects to several peers at
  // once, and concurrent pulls would each fetch the same missing records (measured: 1.91x
  // the record bytes with two peers); in turn, each pull's state vector includes what the
  // previous one brought.
  private readonly pulls = new SerialQueue()
  private readonly again = new Set<string>()
  /** Peers whose last pull stalled or brought an update refused, and until when they are left alone. */
  private readonly restingUntil = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private readonly stopController = new AbortController()
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    this.requestPull(evt.detail)
  }
  readonly stats: SyncStats = { pulls: 0, failedPulls: 0, updatesReceived: 0, bytesReceived: 0, bytesSent: 0 }
  private markSynced: () => void = () => {}
  /** Settles when a first pull from a peer completed with updates: this node then holds what that peer held. */
  readonly synced = new Promise<void>((resolve) => { this.markSynced = resolve })

  constructor (private readonly components: SyncServiceComponents, init: SyncServiceInit) {
    this.protocol = init.protocol
    this.antiEntropyMs = init.antiEntropyMs ?? 30_000
    this.pullTimeoutMs = init.pullTimeoutMs ?? 60_000
    this.idleMs = init.idleMs ?? 15_000
    this.maxUpdateBytes = init.maxUpdateBytes ?? 64 * 1024 * 1024
  }

  /** Register the handler; call before libp2p starts so early pulls are served. */
  async start (): Promise<void> {
    await this.components.libp2p.handle(this.protocol, (stream, connection) => { void this.serve(stream, connection) }, { maxInboundStreams: 8 })
    this.components.libp2p.addEventListener('peer:connect', this.onConnect)
    this.timer = setInterval(() => { this.antiEntropy() }, this.antiEntropyMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.stopController.abort()
    this.components.libp2p.removeEventListener('peer:connect', this.onConnect)
    await Promise.allSettled(this.inFlight.values())
  }

  /** Pull from `peer` soon; coalesces with a pull already running. */
  requestPull (peer: PeerId): void {
    const key = peer.toString()
    if (this.resting(key)) return
    if (this.inFlight.has(key)) {
      this.again.add(key)
      return
    }
    const run = (async () => {
      do {
        this.again.delete(key)
        await this.queuedPull(peer).catch(() => { this.stats.failedPulls++ })
      } while (this.again.has(key) && !this.stopController.signal.aborted && !this.resting(key))
    })().finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, run)
  }

  /**
   * `pull(peer)` in its turn. A pull still running after `SLOW_PULL_MS` stops holding the queue and
   * goes on beside it: peers that answer just above the pace floor held every pull behind them for
   * its whole minute, K sybils K minutes (an outside attack).
   */
  private async queuedPull (peer: PeerId): Promise<void> {
    let pulling: Promise<void> | undefined
    await this.pulls.run(async () => {
      pulling = this.pull(peer)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([pulling.catch(() => {}), new Promise((resolve) => { timer = setTimeout(resolve, SLOW_PULL_MS) })])
      clearTimeout(timer)
    })
    await pulling
  }

  /** Everything `peer` holds that we lack, validated and applied. */
  async pull (peer: PeerId): Promise<void> {
    if (this.stopController.signal.aborted) return
    const watch = new TransferWatch({ timeoutMs: this.pullTimeoutMs, windowMs: this.idleMs, minBytesPerWindow: MIN_TRANSFER_BYTES_PER_S * this.idleMs / 1000 }, this.stopController.signal)
    const signal = watch.signal
    try {
      const stream = await this.components.libp2p.dialProtocol(peer, this.protocol, { signal })
      watch.watch(stream)
      this.stats.pulls++
      await this.readAnswer(peer, stream, watch)
    } catch (err) {
      // [IGNORE] a peer too slow for the pace or the deadline is dropped, so it holds the pulls
      // behind it no longer, and is not asked again for a while; not struck: slowness proves
      // nothing (lossy or saturated links are slow too, and strikes on honest peers cut a swarm
      // in pieces under chaos, bench/chaos)
      if (watch.stalled && !this.stopController.signal.aborted) {
        this.charge(peer, 'ignore', 'SYNC_STALLED')
        this.rest(peer)
      }
      throw err
    } finally {
      watch.clear()
    }
  }

  /** Whether the peer `key` is left out of pulls now (`rest`). */
  private resting (key: string): boolean {
    const until = this.restingUntil.get(key)
    if (until === undefined) return false
    if ((this.components.clock ?? systemClock).now() < until) return true
    this.restingUntil.delete(key)
    return false
  }

  /** Leave `peer` out of pulls for `STALLED_PEER_BACKOFF_MS`. */
  private rest (peer: PeerId): void {
    this.restingUntil.set(peer.toString(), (this.components.clock ?? systemClock).now() + STALLED_PEER_BACKOFF_MS)
  }

  private async readAnswer (peer: PeerId, stream: Stream, watch: TransferWatch): Promise<void> {
    const signal = watch.signal
    const updatesBefore = this.stats.updatesReceived
    try {
      const lp = boundedLpStream(stream, MAX_SYNC_FRAME_BYTES)
      // Within one frame: a larger request is every honest server's strike (SYNC_REQUEST_TOO_LARGE is thrown instead, and logged).
      await lp.write(encodeSyncFrame({ type: 'state-vector', stateVector: this.components.replica.encodeStateVector(MAX_SYNC_FRAME_BYTES - SYNC_FRAME_HEADROOM) }), { signal })
      const assembler = new UpdateAssembler(this.maxUpdateBytes)
      let added = 0
      for (;;) {
        const bytes = (await lp.read({ signal })).subarray()
        this.stats.bytesReceived += bytes.byteLength
        let frame
        try {
          frame = decodeSyncFrame(bytes)
          // [REJECT] a state vector where updates belong
          if (frame.type === 'state-vector') throw new SwarmdError('CODEC_MALFORMED', `sync answer from ${peer.toString()} holds a state vector where updates belong`)
          if (frame.type === 'done') {
            // A full page that brought something new: ask for the next one (after the pulls
            // queued meanwhile). A page of nothing new ends it, whatever the server says.
            if (frame.more === true && added > 0) this.again.add(peer.toString())
            break
          }
          const update = assembler.push(frame)
          if (update === undefined) continue
          this.stats.updatesReceived++
          // One client's range refused does not end the pull: the other ranges are checked on their
          // own, and a server that keeps sending bad ones is blocked by its strikes.
          // A failure of our own (not a verdict on the update) is not the server's fault.
          const outcome = await watch.busy(async () => this.components.replica.applyRemote(update)).catch(() => ({ verdict: 'ignore' as const, fault: 'APPLY_FAILED', culprit: undefined, added: 0 }))
          added += outcome.added
          if (outcome.verdict !== 'accept') {
            this.charge(peer, outcome.verdict, outcome.fault ?? 'UNKNOWN', outcome.culprit)
            // Asking again would bring the same update: leave the peer alone for a while. Not for a
            // conflict between two signers (an equivocation): an honest relay brings those, and the
            // evidence must spread.
            if (outcome.culprit === undefined) this.rest(peer)
          }
        } catch (err) {
          this.charge(peer, 'reject', 'SYNC_MALFORMED')
          throw err
        }
      }
      await stream.close({ signal }).catch(() => { stream.abort(new Error('close failed')) })
      // A peer that brought nothing (an empty swarm, or one answering with nothing) does not end the wait.
      if (this.stats.updatesReceived > updatesBefore) this.markSynced()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const limit = deadline(this.pullTimeoutMs, this.stopController.signal)
    const signal = limit.signal
    try {
      const lp = boundedLpStream(stream, MAX_SYNC_FRAME_BYTES)
      let frame
      try {
        frame = decodeSyncFrame((await lp.read({ signal })).subarray())
      } catch (err) {
        // [REJECT] a request that is not a well-formed frame (an endless length prefix, an oversize frame)
        if (isMalformedFrame(err)) this.charge(connection.remotePeer, 'reject', 'SYNC_MALFORMED')
        throw err
      }
      if (frame.type !== 'state-vector') {
        // [REJECT] a request that is not a state vector
        this.charge(connection.remotePeer, 'reject', 'SYNC_MALFORMED')
        throw new SwarmdError('CODEC_MALFORMED', `sync request from ${connection.remotePeer.toString()} is a ${frame.type} frame, not a state vector`)
      }
      const peer = connection.remotePeer.toString()
      const range = rangeOf(connection.remoteAddr)
      const budget = this.components.budget
      if (budget !== undefined && !budget.admit(peer, range)) {
        // [IGNORE] over its request budget: answered with nothing, at the cost of one frame
        this.charge(connection.remotePeer, 'ignore', 'SYNC_OVER_BUDGET')
        await lp.write(encodeSyncFrame({ type: 'done' }), { signal })
        await stream.close({ signal })
        return
      }
      let diffs: Iterable<Uint8Array>
      try {
        diffs = this.components.replica.diffsFor(frame.stateVector)
      } catch {
        // [REJECT] a state vector that does not decode
        this.charge(connection.remotePeer, 'reject', 'SYNC_BAD_STATE_VECTOR')
        throw new SwarmdError('CODEC_MALFORMED', `sync request from ${connection.remotePeer.toString()} holds a state vector that does not decode`)
      }
      let answered = 0
      let more = false
      for (const diff of diffs) {
        // A page is full: the rest goes in the next answer, which the puller asks for at once.
        if (answered > 0 && answered + diff.byteLength > SYNC_PAGE_BYTES) {
          more = true
          break
        }
        // Over its byte budget, the answer stops here: the puller applies what came and takes the
        // rest on a later pull. Diffs are encoded as they go, so what is not sent costs nothing.
        if (budget !== undefined && !budget.send(peer, range, diff.byteLength)) break
        answered += diff.byteLength
        for (const part of chunkUpdate(diff)) {
          const bytes = encodeSyncFrame(part)
          this.stats.bytesSent += bytes.byteLength
          await lp.write(bytes, { signal })
        }
      }
      await lp.write(encodeSyncFrame({ type: 'done', more }), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      limit.clear()
    }
  }

  private antiEntropy (): void {
    const peers = this.components.libp2p.getPeers()
    if (peers.length === 0) return
    this.requestPull(peers[this.components.rng.int(peers.length)]!)
  }

  private charge (peer: PeerId, verdict: 'reject' | 'ignore', fault: string, culprit?: string): void {
    for (const offender of this.components.penalties.charge({ link: peer.toString(), channel: 'sync', verdict, fault, culprit })) {
      this.components.punish(peerIdFromString(offender))
    }
  }
}
