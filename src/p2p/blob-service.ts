import { boundedLpStream, isMalformedFrame } from './length-prefix.js'
import { SwarmdError } from '../util/errors.js'
import { BLOB_DATA_FRAME_BYTES, decodeBlobHeader, decodeBlobRequest, encodeBlobHeader, encodeBlobRequest } from './blob-codec.js'
import { BlobAnnouncer } from './blob-announcer.js'
import { BlobRequestLimit } from './blob-request-limit.js'
import { MIN_TRANSFER_BYTES_PER_S, TransferWatch } from './transfer-watch.js'
import { deadline } from '../util/deadline.js'
import { blobCid, blobHashOf } from './blob-store.js'
import { gossipScoring } from './gossip-score.js'
import { systemClock } from '../util/clock.js'
import type { Clock } from '../util/clock.js'
import type { BlobHash, BlobStore } from './blob-store.js'
import type { SwarmdLibp2p } from './libp2p-node.js'
import type { PeerPenalties } from './peer-penalties.js'
import type { PeerId, Stream } from '@libp2p/interface'

export const BLOB_PROTOCOL = '/swarmd/blob/1'

export interface BlobServiceComponents {
  libp2p: SwarmdLibp2p
  store: BlobStore
  penalties: PeerPenalties
  punish(peer: PeerId): void
  /** For the per-peer request budget; default the system clock. */
  clock?: Clock
}

export interface BlobServiceInit {
  /** How long one peer may take to deliver a blob, in ms. Default 30 s. */
  fetchTimeoutMs?: number
  /** The pace window, ms: a fetch that brings less than 4 KiB/s over it is dropped, without a strike. Default 10 s. */
  idleMs?: number
  /** How long to look for providers in the DHT, in ms. Default 5 s. */
  findProvidersTimeoutMs?: number
  /**
   * Blob requests one peer may make per minute (and at once); beyond it a request stream is reset
   * unread. Default 120 (config `blobRequestsPerPeerPerMinute`).
   */
  requestsPerPeerPerMinute?: number
}

/** What this node's blob server did with inbound requests. */
export interface BlobServeStats {
  served: number
  notFound: number
  /** Reset unread: the peer was over its request budget. */
  refused: number
}

/** Providers asked at once for one blob. */
const BLOB_RACE = 3

export interface FetchOptions {
  signal?: AbortSignal
}

/**
 * Serves blobs on `/swarmd/blob/1`, fetches them from providers (DHT first, then the
 * peers we are connected to), verifies every byte against the hash, and announces what
 * it holds with kad-dht `provide`.
 */
export class BlobService {
  private readonly fetchTimeoutMs: number
  private readonly idleMs: number
  private readonly findProvidersTimeoutMs: number
  private readonly stopController = new AbortController()
  private readonly requestLimit: BlobRequestLimit
  /** Peers refused since they were last served: one rejection entry per burst, not per request. */
  private readonly overBudget = new Set<string>()
  readonly stats: BlobServeStats = { served: 0, notFound: 0, refused: 0 }
  readonly announcer: BlobAnnouncer

  constructor (private readonly components: BlobServiceComponents, init: BlobServiceInit = {}) {
    this.fetchTimeoutMs = init.fetchTimeoutMs ?? 30_000
    this.idleMs = init.idleMs ?? 10_000
    this.findProvidersTimeoutMs = init.findProvidersTimeoutMs ?? 5_000
    this.announcer = new BlobAnnouncer(async (hash, signal) => { await components.libp2p.contentRouting.provide(blobCid(hash as BlobHash), { signal }) })
    this.requestLimit = new BlobRequestLimit(components.clock ?? systemClock, { perPeerPerMinute: init.requestsPerPeerPerMinute ?? 120 })
  }

  async start (): Promise<void> {
    await this.components.libp2p.handle(BLOB_PROTOCOL, (stream, connection) => {
      if (!this.withinBudget(stream, connection.remotePeer)) return
      void this.serve(stream, connection.remotePeer)
    // A relayed (limited) connection is how a peer behind NAT serves and gets code (issue 17);
    // the relay bounds its bytes and time, and blobs are all swarmd sends over one.
    }, { maxInboundStreams: 16, runOnLimitedConnection: true })
  }

  async stop (): Promise<void> {
    this.stopController.abort()
    await this.announcer.stop()
  }

  /**
   * Store bytes locally and announce them; resolves with the hash once stored. `announce: false`
   * for what peers look up rarely (logs, verification reports: a fetch finds them at the connected peers): each
   * announcement is a DHT query and a record at every closest peer, and announcing the logs too
   * doubled that traffic per experiment. Code is announced, so every holder of a popular
   * train.py serves it.
   */
  async add (bytes: Uint8Array, options: { announce?: boolean } = {}): Promise<BlobHash> {
    const hash = await this.components.store.put(bytes)
    if (options.announce !== false) this.announce(hash)
    return hash
  }

  /** Tell the DHT we hold this blob, once per hash, in the background (`BlobAnnouncer`). */
  announce (hash: BlobHash): void {
    this.announcer.announce(hash)
  }

  /** The blob from the local store, else from the first peer that delivers it intact. */
  async get (hash: BlobHash, options: FetchOptions = {}): Promise<Uint8Array> {
    const local = await this.components.store.get(hash).catch(() => undefined)
    if (local !== undefined) return local
    let lastError: unknown
    // Up to BLOB_RACE candidates at once, the next starting as one fails, the first verified
    // answer ending the rest: a provider that stalls costs one lane, not the whole fetch (tried
    // one by one, each stalling provider cost the 30 s fetch timeout).
    const queue = await this.candidates(hash, options)
    const won = new AbortController()
    const signal = AbortSignal.any([won.signal, ...(options.signal !== undefined ? [options.signal] : [])])
    let winner: Uint8Array | undefined
    const lane = async (): Promise<void> => {
      for (let peer = queue.shift(); peer !== undefined && winner === undefined; peer = queue.shift()) {
        try {
          const bytes = await this.fetchFrom(peer, hash, { signal })
          winner ??= bytes
          won.abort()
        } catch (err) {
          if (!won.signal.aborted) lastError = err
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(BLOB_RACE, queue.length) }, lane))
    if (winner !== undefined) {
      await this.components.store.put(winner)
      this.announce(hash)
      return winner
    }
    if (lastError instanceof SwarmdError && lastError.code === 'BLOB_HASH_MISMATCH') throw lastError
    throw new SwarmdError('BLOB_NOT_FOUND', `no reachable peer has blob ${hash}`, { cause: lastError })
  }

  /** Fetch from one peer and verify. Throws BLOB_HASH_MISMATCH / BLOB_TOO_LARGE / BLOB_NOT_FOUND. */
  async fetchFrom (peer: PeerId, hash: BlobHash, options: FetchOptions = {}): Promise<Uint8Array> {
    const watch = new TransferWatch({ timeoutMs: this.fetchTimeoutMs, windowMs: this.idleMs, minBytesPerWindow: MIN_TRANSFER_BYTES_PER_S * this.idleMs / 1000 }, this.stopController.signal, options.signal)
    const signal = watch.signal
    const read = async (lp: ReturnType<typeof boundedLpStream>): Promise<Uint8Array> => (await lp.read({ signal })).subarray()
    const stream = await this.components.libp2p.dialProtocol(peer, BLOB_PROTOCOL, { signal, runOnLimitedConnection: true }).catch((err: unknown) => { watch.clear(); throw err })
    watch.watch(stream)
    try {
      const lp = boundedLpStream(stream, BLOB_DATA_FRAME_BYTES)
      await lp.write(encodeBlobRequest(hash), { signal })
      const header = decodeBlobHeader(await read(lp))
      if (header.status === 'not-found') throw new SwarmdError('BLOB_NOT_FOUND', `peer ${peer.toString()} does not have blob ${hash}`)
      if (header.size > this.components.store.maxBlobBytes) {
        this.penalise(peer, 'BLOB_TOO_LARGE')
        throw new SwarmdError('BLOB_TOO_LARGE', `peer offers ${header.size} bytes for blob ${hash}; the limit is ${this.components.store.maxBlobBytes}`)
      }
      const bytes = new Uint8Array(header.size)
      let at = 0
      while (at < header.size) {
        const chunk = await read(lp)
        if (at + chunk.byteLength > header.size) break
        bytes.set(chunk, at)
        at += chunk.byteLength
      }
      // [REJECT] the bytes must hash to what was asked for
      if (at !== header.size || blobHashOf(bytes) !== hash) {
        this.penalise(peer, 'BLOB_HASH_MISMATCH')
        throw new SwarmdError('BLOB_HASH_MISMATCH', `peer ${peer.toString()} sent bytes that do not match blob ${hash}; refused`)
      }
      await stream.close({ signal }).catch(() => {})
      return bytes
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      // [IGNORE] a provider too slow for the pace or the deadline is dropped, so it holds a fetch
      // lane no longer; not struck: slowness proves nothing (a lossy or saturated link is slow too)
      if (watch.stalled && !this.stopController.signal.aborted) this.components.penalties.record({ peer: peer.toString(), channel: 'blob', verdict: 'ignore', fault: 'BLOB_STALLED' })
      throw err
    } finally {
      watch.clear()
    }
  }

  private async candidates (hash: BlobHash, options: FetchOptions): Promise<PeerId[]> {
    const found = new Map<string, PeerId>()
    const limit = deadline(this.findProvidersTimeoutMs, this.stopController.signal, options.signal)
    const signal = limit.signal
    try {
      for await (const provider of this.components.libp2p.contentRouting.findProviders(blobCid(hash), { signal })) {
        if (!provider.id.equals(this.components.libp2p.peerId)) found.set(provider.id.toString(), provider.id)
        if (found.size >= 8) break
      }
    } catch {
      // No providers found in time: fall back to the peers we know.
    } finally {
      limit.clear()
    }
    for (const peer of this.components.libp2p.getPeers()) found.set(peer.toString(), peer)
    return [...found.values()]
  }

  private async serve (stream: Stream, peer: PeerId): Promise<void> {
    const limit = deadline(this.fetchTimeoutMs, this.stopController.signal)
    const signal = limit.signal
    try {
      const lp = boundedLpStream(stream, 128)
      let hash: BlobHash
      try {
        hash = decodeBlobRequest((await lp.read({ signal })).subarray())
      } catch (err) {
        // [REJECT] a request that is not a well-formed one (an endless length prefix included); a
        // stream that ended or timed out first proves nothing: its peer may have been killed
        if (isMalformedFrame(err)) this.penalise(peer, 'BLOB_BAD_REQUEST')
        throw err
      }
      const bytes = await this.components.store.get(hash).catch(() => undefined)
      if (bytes === undefined) {
        this.stats.notFound++
        await lp.write(encodeBlobHeader({ status: 'not-found' }), { signal })
      } else {
        this.stats.served++
        await lp.write(encodeBlobHeader({ status: 'found', size: bytes.byteLength }), { signal })
        for (let at = 0; at < bytes.byteLength; at += BLOB_DATA_FRAME_BYTES) {
          await lp.write(bytes.subarray(at, at + BLOB_DATA_FRAME_BYTES), { signal })
        }
      }
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      limit.clear()
    }
  }

  /**
   * [IGNORE] a request over the peer's budget: the stream is reset before a byte of it is read or
   * the disk is touched. Each refusal costs the peer one unit of gossipsub behaviour penalty (as a
   * gossip flood does); a peer that keeps asking a whole budget's worth after being refused earns a
   * strike (REJECT), so a sustained flooder ends blocked.
   */
  private withinBudget (stream: Stream, peer: PeerId): boolean {
    const key = peer.toString()
    const verdict = this.requestLimit.admit(key)
    if (verdict === 'ok') {
      this.overBudget.delete(key)
      return true
    }
    this.stats.refused++
    stream.abort(new SwarmdError('BLOB_RATE_LIMITED', `peer ${key} is over its blob request budget; retry in a minute`))
    try {
      gossipScoring(this.components.libp2p.services.pubsub).score.addPenalty(key, 1, 'swarmd-blob-rate-limit')
    } catch {
      // No gossip score to charge (a node without gossipsub): the strike below still counts.
    }
    if (verdict === 'strike') {
      this.penalise(peer, 'BLOB_RATE_LIMITED')
    } else if (!this.overBudget.has(key)) {
      if (this.overBudget.size >= 1_000) this.overBudget.clear()
      this.overBudget.add(key)
      this.components.penalties.record({ peer: key, channel: 'blob', verdict: 'ignore', fault: 'BLOB_RATE_LIMITED' })
    }
    return false
  }

  private penalise (peer: PeerId, fault: string): void {
    if (this.components.penalties.record({ peer: peer.toString(), channel: 'blob', verdict: 'reject', fault })) this.components.punish(peer)
  }
}
