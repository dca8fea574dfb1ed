import '../../src/util/polyfill.js'
import { connect as tcpConnect } from 'node:net'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import * as Y from 'yjs'
import { BLOB_PROTOCOL } from '../../src/p2p/blob-service.js'
import { BLOB_DATA_FRAME_BYTES, decodeBlobHeader, decodeBlobRequest, encodeBlobHeader, encodeBlobRequest } from '../../src/p2p/blob-codec.js'
import { blobHashOf } from '../../src/p2p/blob-store.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { MAP_FOR_KIND } from '../../src/state/record-kinds.js'
import { stateTopic, syncProtocol } from '../../src/p2p/swarm-network.js'
import { MAX_SYNC_FRAME_BYTES, UpdateAssembler, decodeSyncFrame, encodeSyncFrame } from '../../src/p2p/sync-codec.js'
import { sessionOf, signAs, signBinding } from './forge.js'
import { waitFor } from './wait.js'
import type { Socket } from 'node:net'
import type { Daemon } from '../../src/daemon/daemon.js'
import type { BlobHash } from '../../src/p2p/blob-store.js'
import type { Identity } from '../../src/p2p/identity.js'
import type { SyncFrame } from '../../src/p2p/sync-codec.js'
import type { RecordBody, RecordKind } from '../../src/state/record-kinds.js'
import type { StoredRecord } from '../../src/state/records.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

/** Ping is there because kad-dht pings a new contact before it enters the routing table. */
export type HostileLibp2p = Libp2p<{ identify: Identify, ping: Ping, pubsub: GossipSub }>

/** One inbound stream that a hostile node answered with an endless length prefix. */
export interface EndlessPrefixStream {
  /** Bytes of 0xFF sent. */
  sent: number
  /** Whether the peer closed or reset the stream before all bytes were sent. */
  closedByPeer: boolean
  /** Whether sending has stopped (the stream ended or all bytes were sent). */
  done: boolean
  /** From the stream's arrival until sending stopped, in ms. */
  ms: number
}

/**
 * A plain libp2p node that speaks swarmd's wire protocols but none of its rules: it
 * publishes whatever bytes a test hands it and serves whatever frames a test scripts.
 */
export interface HostileNode {
  libp2p: HostileLibp2p
  /** Its key: records it signs name this peer as author. */
  identity: Identity
  peerId: string
  topic: string
  /** Dial `daemon` (retried: libp2p rate-limits inbound connections per host). */
  connect(daemon: Daemon): Promise<void>
  /** Dial each daemon and wait until both sides list the other on the state topic. */
  join(daemons: Daemon[]): Promise<void>
  /** Publish raw bytes on the state topic; resolves with the peers it went to. */
  publish(data: Uint8Array): Promise<string[]>
  /** Everything `daemon` holds, pulled over its own sync protocol like any peer may. */
  pullState(daemon: Daemon): Promise<Uint8Array>
  /** Answer sync pulls: `respond(n)` gives the frames (or raw frame bytes) for the n-th pull. */
  serveSync(respond: (n: number, stateVector: Uint8Array) => Array<SyncFrame | Uint8Array>): Promise<void>
  /**
   * Open a stream of `protocol` to `daemon` and send a length prefix that never ends (0xFF bytes,
   * each with the continuation bit set), up to `maxBytes`. Resolves when the daemon ends the
   * stream or all bytes are sent, with the bytes sent and the time it took.
   */
  sendEndlessPrefix(daemon: Daemon, protocol: string, maxBytes: number): Promise<{ sent: number, closedByPeer: boolean, ms: number }>
  /**
   * Handle `protocol` and answer every inbound stream, unread, with the endless length prefix of
   * `sendEndlessPrefix` (up to `maxBytes`), in place of any handler it had (identify's, say).
   * Register before `join` so identify announces it. The
   * returned `streams` gets one record per stream, updated as it goes.
   */
  serveEndlessPrefix(protocol: string, maxBytes: number): Promise<{ streams: EndlessPrefixStream[] }>
  /** Take sync pulls and never answer: read the request, then hold the stream open. */
  serveSilentSync(): Promise<void>
  /**
   * Answer sync pulls with a trickle: the length prefix of a 1 MiB frame, then `bytesPerTick` (1)
   * bytes every `byteEveryMs`, never finishing it (each byte resets an idle timer; it never makes a
   * frame before the pull's minute is up). `pulls()` says how many pulls it was asked so far.
   */
  serveTricklingSync(byteEveryMs: number, bytesPerTick?: number): Promise<{ pulls: () => number }>
  /** Take blob requests and never answer: read the request, then hold the stream open. */
  serveSilentBlobs(): Promise<void>
  /** Answer blob requests with the frames `respond` returns (header first, then data). */
  serveBlob(respond: (hash: BlobHash) => Uint8Array[]): Promise<void>
  /** Serve these blobs honestly over `/swarmd/blob/1` (anything else: not found); resolves with their hashes. */
  serveBlobs(blobs: Uint8Array[]): Promise<BlobHash[]>
  stop(): Promise<void>
}

export async function startHostileNode (swarm: string): Promise<HostileNode> {
  const identity = await generateIdentity()
  const topic = stateTopic(swarm)
  const libp2p: HostileLibp2p = await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
    }
  })
  libp2p.services.pubsub.subscribe(topic)
  const peerId = libp2p.peerId.toString()

  const subscribed = (daemon: Daemon): boolean => {
    const theirs = daemon.network.libp2p.services.pubsub.getSubscribers(topic).some((p) => p.toString() === peerId)
    const ours = libp2p.services.pubsub.getSubscribers(topic).some((p) => p.equals(daemon.identity.peerId))
    return theirs && ours
  }

  /** Read one request on `protocol`, then hold the stream open: it ends when the node stops or the daemon gives up. */
  const silent = async (protocol: string, maxRequestBytes: number): Promise<void> => {
    await libp2p.handle(protocol, (stream) => {
      void lpStream(stream, { maxDataLength: maxRequestBytes }).read({ signal: AbortSignal.timeout(10_000) }).catch(() => {})
    })
  }
  const scripted = async (stream: Stream, write: (lp: ReturnType<typeof lpStream<Stream>>) => Promise<void>): Promise<void> => {
    const signal = AbortSignal.timeout(10_000)
    try {
      await write(lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES }))
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  const node: HostileNode = {
    libp2p,
    identity,
    peerId,
    topic,

    async connect (daemon) {
      // libp2p rate-limits inbound connections per host (5/s by default), and every test's
      // attacker comes from 127.0.0.1: a refused dial is retried, as a real attacker would.
      await waitFor(async () => {
        try {
          await libp2p.dial(multiaddr(daemon.listenAddrs()[0]!), { signal: AbortSignal.timeout(10_000) })
          return true
        } catch {
          return false
        }
      }, { timeoutMs: 15_000, intervalMs: 300, what: 'the hostile node to connect' })
    },

    async join (daemons) {
      for (const daemon of daemons) await node.connect(daemon)
      // The validator only sees what gossipsub delivers: publish once both sides know the subscription.
      await waitFor(() => daemons.every(subscribed), { timeoutMs: 10_000, what: 'the hostile node to join the state topic' })
    },

    async publish (data) {
      const { recipients } = await libp2p.services.pubsub.publish(topic, data)
      return recipients.map((p) => p.toString())
    },

    async pullState (daemon) {
      const signal = AbortSignal.timeout(10_000)
      // Page after page, as the daemon's own puller does: each request carries what came so far.
      const updates: Uint8Array[] = []
      let stateVector = Y.encodeStateVector(new Y.Doc())
      for (let more = true; more;) {
        more = false
        const stream = await libp2p.dialProtocol(daemon.identity.peerId, syncProtocol(swarm), { signal })
        const lp = lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES })
        await lp.write(encodeSyncFrame({ type: 'state-vector', stateVector }), { signal })
        const assembler = new UpdateAssembler(64 * 1024 * 1024)
        for (;;) {
          const frame = decodeSyncFrame((await lp.read({ signal })).subarray())
          if (frame.type === 'done') {
            more = frame.more === true
            break
          }
          if (frame.type !== 'update-part') throw new Error('unexpected sync frame')
          const update = assembler.push(frame)
          if (update !== undefined) updates.push(update)
        }
        await stream.close({ signal }).catch(() => {})
        if (more) stateVector = Y.encodeStateVectorFromUpdate(Y.mergeUpdates(updates))
      }
      return Y.mergeUpdates(updates)
    },

    async serveSync (respond) {
      let pulls = 0
      await libp2p.handle(syncProtocol(swarm), (stream) => {
        void scripted(stream, async (lp) => {
          const signal = AbortSignal.timeout(10_000)
          const request = decodeSyncFrame((await lp.read({ signal })).subarray())
          if (request.type !== 'state-vector') throw new Error('expected a state vector')
          for (const frame of respond(pulls++, request.stateVector)) {
            await lp.write(frame instanceof Uint8Array ? frame : encodeSyncFrame(frame), { signal })
          }
        })
      })
    },

    async serveSilentSync () {
      await silent(syncProtocol(swarm), MAX_SYNC_FRAME_BYTES)
    },

    async serveTricklingSync (byteEveryMs, bytesPerTick) {
      let pulls = 0
      await libp2p.handle(syncProtocol(swarm), (stream) => {
        pulls++
        void (async () => {
          const signal = AbortSignal.timeout(120_000)
          const lp = lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES })
          await lp.read({ signal })
          const raw = lp.unwrap()
          // The varint of 1 MiB (MAX_SYNC_FRAME_BYTES): a frame the reader must wait for.
          raw.send(Uint8Array.of(0x80, 0x80, 0x40))
          const chunk = new Uint8Array(bytesPerTick ?? 1)
          for (let sent = 0; sent + chunk.byteLength < MAX_SYNC_FRAME_BYTES && !signal.aborted && raw.status === 'open'; sent += chunk.byteLength) {
            await new Promise((resolve) => setTimeout(resolve, byteEveryMs))
            raw.send(chunk)
          }
        })().catch(() => { stream.abort(new Error('trickle ended')) })
      })
      return { pulls: () => pulls }
    },

    async serveSilentBlobs () {
      await silent(BLOB_PROTOCOL, 1024)
    },

    async serveBlob (respond) {
      await libp2p.handle(BLOB_PROTOCOL, (stream) => {
        void scripted(stream, async (lp) => {
          const signal = AbortSignal.timeout(10_000)
          const hash = decodeBlobRequest((await lp.read({ signal })).subarray())
          for (const frame of respond(hash)) await lp.write(frame, { signal })
        })
      })
    },

    async serveBlobs (blobs) {
      const byHash = new Map(blobs.map((bytes) => [blobHashOf(bytes), bytes]))
      await node.serveBlob((hash) => {
        const bytes = byHash.get(hash)
        if (bytes === undefined) return [encodeBlobHeader({ status: 'not-found' })]
        const frames = [encodeBlobHeader({ status: 'found', size: bytes.byteLength })]
        for (let at = 0; at < bytes.byteLength; at += BLOB_DATA_FRAME_BYTES) frames.push(bytes.subarray(at, at + BLOB_DATA_FRAME_BYTES))
        return frames
      })
      return [...byHash.keys()]
    },

    async sendEndlessPrefix (daemon, protocol, maxBytes) {
      const started = performance.now()
      const stream = await libp2p.dialProtocol(daemon.identity.peerId, protocol, { signal: AbortSignal.timeout(10_000) })
      const record: EndlessPrefixStream = { sent: 0, closedByPeer: false, done: false, ms: 0 }
      await sendEndless(stream, maxBytes, record)
      return { sent: record.sent, closedByPeer: record.closedByPeer, ms: performance.now() - started }
    },

    async serveEndlessPrefix (protocol, maxBytes) {
      const streams: EndlessPrefixStream[] = []
      await libp2p.handle(protocol, (stream) => {
        const record: EndlessPrefixStream = { sent: 0, closedByPeer: false, done: false, ms: 0 }
        streams.push(record)
        void sendEndless(stream, maxBytes, record)
      }, { force: true })
      return { streams }
    },

    async stop () {
      await libp2p.stop()
    }
  }
  return node
}

/**
 * Send 4 KiB chunks of 0xFF (a length prefix that never ends: each byte has the continuation bit
 * set) on `stream` until the peer ends it or `maxBytes` are sent, then reset it; tallies in `record`.
 */
async function sendEndless (stream: Stream, maxBytes: number, record: EndlessPrefixStream): Promise<void> {
  const started = performance.now()
  // Our own reset at the end fires 'close' too: only a close before `done` is the peer's.
  stream.addEventListener('close', () => { if (!record.done) record.closedByPeer = true }, { once: true })
  const chunk = new Uint8Array(4096).fill(0xff)
  try {
    while (record.sent < maxBytes && !record.closedByPeer && stream.status === 'open') {
      if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) })
      record.sent += chunk.byteLength
      // Let the peer's reset arrive between chunks.
      await new Promise((resolve) => setImmediate(resolve))
    }
  } catch {
    record.closedByPeer = true
  }
  record.ms = performance.now() - started
  record.done = true
  stream.abort(new Error('done'))
}

/**
 * `count` valid records by `identity` in its session `seed` (a binding, then hypotheses), each in its
 * own update as an honest writer publishes them: what a flood of valid-looking records looks like on the wire.
 */
export async function validRecordUpdates (identity: Identity, seed: number, count: number): Promise<Uint8Array[]> {
  const binding = await signBinding(identity, seed)
  const client = binding.record.slot.client
  const doc = new Y.Doc({ gc: false })
  doc.clientID = client
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => { updates.push(update) })
  doc.getMap('bindings').set(binding.key, binding.text)
  for (let i = 1; i < count; i++) {
    const record = await signAs(identity, 'hypothesis', { title: `flood ${i}`, text: '' }, { client, clock: Y.getState(doc.store, client) })
    doc.getMap('hypotheses').set(record.key, record.text)
  }
  return updates
}

/**
 * Writes valid records signed by `identity` from one Yjs client, each in its own update as an
 * honest writer publishes them (the binding first): an author that follows every rule of the
 * format and none of the swarm's manners (spam, squatting, lies about results).
 */
export class RecordWriter {
  private readonly doc = new Y.Doc({ gc: false })
  private pending: Uint8Array[] = []

  private constructor (readonly identity: Identity, readonly client: number) {
    this.doc.clientID = client
    this.doc.on('update', (update: Uint8Array) => { this.pending.push(update) })
  }

  /** A writer for session `seed` of `identity`, with the update that binds its client (publish it first). */
  static async open (identity: Identity, seed: number): Promise<{ writer: RecordWriter, binding: Uint8Array }> {
    const { client, session } = sessionOf(identity, seed)
    const writer = new RecordWriter(identity, client)
    const { update } = await writer.write('binding', { clientId: client, session })
    return { writer, binding: update }
  }

  /** Sign `body` for the client's next slot and write it; `createdAt` defaults to now. */
  async write<K extends RecordKind> (kind: K, body: RecordBody<K>, createdAt = Date.now()): Promise<{ update: Uint8Array, record: StoredRecord<K> }> {
    const record = await signAs(this.identity, kind, body, { client: this.client, clock: Y.getState(this.doc.store, this.client) }, createdAt)
    this.pending = []
    this.doc.getMap(MAP_FOR_KIND[kind]).set(record.key, record.text)
    const [update] = this.pending
    if (update === undefined || this.pending.length !== 1) throw new Error('expected one update per record')
    return { update, record }
  }
}

/**
 * Raw TCP sockets to `host:port` from `localAddress` that connect and then say nothing: each
 * holds one of libp2p's pending inbound upgrade slots until the upgrade times out.
 */
export async function openSilentSockets (host: string, port: number, count: number, localAddress: string): Promise<{ sockets: Socket[], closed: () => number, destroy: () => void }> {
  let closed = 0
  // A socket the listener refuses (reset at once) still resolves: it counts as closed.
  const sockets = await Promise.all(Array.from({ length: count }, async () => new Promise<Socket>((resolve) => {
    const socket = tcpConnect({ host, port, localAddress }, () => { resolve(socket) })
    socket.on('error', () => { resolve(socket) })
    socket.on('close', () => { closed++ })
  })))
  return { sockets, closed: () => closed, destroy: () => { for (const s of sockets) s.destroy() } }
}

/** Whether `daemon` holds an open connection to `peer`. */
export function connectedTo (daemon: Daemon, peer: PeerId | string): boolean {
  return daemon.network.libp2p.getConnections().some((c) => c.remotePeer.toString() === peer.toString())
}

/** What a blob request flood got back: answered with a header (found / not found), or reset unanswered. */
export interface BlobFloodOutcome {
  found: number
  notFound: number
  /** Streams the daemon reset, or dials it refused, before any answer. */
  refused: number
  ms: number
}

/**
 * Ask `daemon` for `count` blobs as fast as `concurrency` parallel streams of `/swarmd/blob/1`
 * allow, cycling through `hashes` (existing and missing alike). Each stream reads only the
 * answer's header, then is dropped: the daemon has already paid for the disk read by then.
 */
export async function floodBlobRequests (node: HostileNode, daemon: Daemon, hashes: BlobHash[], count: number, concurrency: number): Promise<BlobFloodOutcome> {
  const outcome: BlobFloodOutcome = { found: 0, notFound: 0, refused: 0, ms: 0 }
  const started = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const hash = hashes[next++ % hashes.length]!
      const signal = AbortSignal.timeout(10_000)
      let stream: Stream | undefined
      try {
        stream = await node.libp2p.dialProtocol(daemon.identity.peerId, BLOB_PROTOCOL, { signal })
        const lp = lpStream(stream, { maxDataLength: 1024 * 1024 })
        await lp.write(encodeBlobRequest(hash), { signal })
        const header = decodeBlobHeader((await lp.read({ signal })).subarray())
        if (header.status === 'found') outcome.found++
        else outcome.notFound++
      } catch {
        outcome.refused++
      } finally {
        stream?.abort(new Error('done'))
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  outcome.ms = performance.now() - started
  return outcome
}
