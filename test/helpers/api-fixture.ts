import '../../src/util/polyfill.js'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiServer } from '../../src/http/api-server.js'
import { BlobStore, parseBlobHash } from '../../src/p2p/blob-store.js'
import { ClaimBook } from '../../src/claims/claim-book.js'
import { ResearchLedger } from '../../src/claims/research-ledger.js'
import { HypothesisBook } from '../../src/claims/hypotheses.js'
import { ResultPublisher } from '../../src/claims/publish.js'
import { SemanticDedup } from '../../src/claims/semantic.js'
import { LazyEmbedder } from '../../src/embedding/lazy-embedder.js'
import { createWorkerEmbedder } from '../../src/embedding/worker-embedder.js'
import { defaultModelCacheDir } from '../../src/embedding/model-cache-dir.js'
import { TrustLedger } from '../../src/trust/trust-ledger.js'
import { SwarmdError } from '../../src/util/errors.js'
import { HARNESS_DIR } from './python.js'
import { generateIdentity } from '../../src/p2p/identity.js'
import { SwarmState } from '../../src/state/swarm-state.js'
import { MemoryUpdateStore } from '../../src/state/update-store.js'
import { systemClock } from '../../src/util/clock.js'
import { seededRng } from '../../src/util/rng.js'
import type { ApiServices, ResearchStatus } from '../../src/http/api-ports.js'
import type { SourceBlobs } from '../../src/claims/claim-request.js'
import type { Embedder } from '../../src/embedding/embedder.js'
import type { NetworkSnapshot } from '../../src/p2p/swarm-network.js'

/**
 * The local API over real HTTP on loopback, served by the real claim book, hypotheses, trust
 * ledger, publisher and blob store on an in-memory replica: no libp2p node. The network port is
 * a fixed snapshot whose `connect` records the address and fails, as a dial to nobody would.
 */
export interface ApiFixture {
  url: string
  token: string
  /** The node's replicated state (in memory), on the system clock. */
  state: SwarmState
  peerId: string
  services: ApiServices
  blobStore: BlobStore
  defaultSource: string
  /** Addresses `POST /api/connect` was asked to dial. */
  dialled: string[]
  close: () => Promise<void>
}

export interface ApiFixtureOptions {
  settleMs?: number
  /** Real MiniLM in a worker (the daemon's embedder) for the semantic dedup layer; default off. */
  semantic?: boolean
  /** Another embedder for the semantic layer (one whose similarities the test chooses). */
  embedder?: Embedder
  /** Largest request body, bytes. Default 2 MiB. */
  maxBodyBytes?: number
}

export const FIXTURE_HARNESS = 'h-fixture'
const RESEARCH: ResearchStatus = {
  agent: 'none',
  profile: 'cpu',
  tier: 'cpu',
  harness: FIXTURE_HARNESS,
  corpus: null,
  hardware: { gpu: 'cpu', vramGb: 0 },
  python: null,
  maxSteps: null,
  confinement: null,
  workers: 0,
  current: null,
  running: [],
  stats: null
}

export async function startApiFixture (options: ApiFixtureOptions = {}): Promise<ApiFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmd-api-'))
  const identity = await generateIdentity()
  const peerId = identity.peerId.toString()
  const clock = systemClock
  const state = new SwarmState({ store: new MemoryUpdateStore(), privateKey: identity.privateKey, peerId, clock, rng: seededRng(5) })
  await state.start()
  const defaultSource = await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')
  const blobStore = new BlobStore(join(dir, 'blobs'))
  const blobs: SourceBlobs = {
    add: async (bytes) => blobStore.put(bytes),
    get: async (hash) => {
      const bytes = await blobStore.get(parseBlobHash(hash))
      if (bytes === undefined) throw new SwarmdError('BLOB_NOT_FOUND', `blob ${hash} is not stored here`)
      return bytes
    }
  }
  const embedder = options.semantic === true ? new LazyEmbedder(384, async () => createWorkerEmbedder({ cacheDir: defaultModelCacheDir() })) : undefined
  const ledger = new ResearchLedger(state, FIXTURE_HARNESS, { clock })
  const semanticEmbedder = options.embedder ?? embedder
  const semantic = semanticEmbedder !== undefined ? new SemanticDedup(semanticEmbedder) : undefined
  const claims = new ClaimBook({ state, ledger, clock, ...(semantic !== undefined ? { semantic } : {}) }, { settleMs: options.settleMs ?? 20 })
  const hypotheses = new HypothesisBook({ state, ledger, clock, ...(semantic !== undefined ? { semantic } : {}) }, { perHour: 20 })
  const trust = new TrustLedger(ledger, { self: peerId, quorum: 2, reputationAfter: 3, tolerance: 0.01 })
  const publisher = new ResultPublisher({ state, ledger, blobs, clock, defaultSource }, { hardware: { gpu: 'cpu', vramGb: 0 }, tier: 'cpu', harness: FIXTURE_HARNESS })
  const dialled: string[] = []
  const snapshot: NetworkSnapshot = {
    peerId,
    listen: ['/ip4/127.0.0.1/tcp/4001'],
    reachability: 'private',
    relays: { holding: [], serving: false },
    peers: [],
    topicPeers: 0,
    sync: { pulls: 0, failedPulls: 0, updatesReceived: 0, bytesReceived: 0, bytesSent: 0 },
    gossip: { published: 0, publishFailures: 0, accepted: 0, rateLimited: 0, repairs: 0 },
    rejections: { reject: 0, ignore: 0, recent: [] },
    blocked: [],
    bootstrap: []
  }
  const services: ApiServices = {
    swarm: 'fixture',
    startedAt: clock.now(),
    problems: () => [],
    network: {
      snapshot: () => snapshot,
      connect: async (addr) => {
        dialled.push(addr)
        throw new Error('no peer answers in this fixture')
      }
    },
    research: () => RESEARCH,
    defaults: { tier: 'cpu', claimTtlMs: 60_000, defaultSource, maxSteps: undefined },
    counts: () => state.counts(),
    digest: () => state.contentDigest(),
    claims,
    hypotheses,
    trust,
    blobs,
    publisher
  }
  const token = 'fixture-token-0123456789abcdef'
  const server = new ApiServer({ token, clock }, { host: '127.0.0.1', port: 0, maxBodyBytes: options.maxBodyBytes ?? 2 * 1024 * 1024 })
  await server.start()
  server.serve(services)
  return {
    url: server.url,
    token,
    state,
    peerId,
    services,
    blobStore,
    defaultSource,
    dialled,
    close: async () => {
      await server.stop()
      ledger.close()
      await embedder?.close()
      await state.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
