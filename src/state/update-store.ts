import { LeveldbPersistence } from 'y-leveldb'
import * as Y from 'yjs'
import { SwarmdError } from '../util/errors.js'

/**
 * Durable storage for a swarm doc's updates. `append` resolves only once the update is
 * stored: whatever the daemon acknowledged survives a crash.
 */
export interface UpdateStore {
  open(): Promise<void>
  /** Everything stored so far as one update, or null when empty. */
  load(): Promise<Uint8Array | null>
  append(update: Uint8Array): Promise<void>
  close(): Promise<void>
}

/** y-leveldb under the data dir; its swallowed errors are turned back into throws. */
export class LevelUpdateStore implements UpdateStore {
  private db: LeveldbPersistence | undefined

  constructor (private readonly location: string, private readonly docName: string) {}

  async open (): Promise<void> {
    if (this.db !== undefined) return
    this.db = new LeveldbPersistence(this.location)
  }

  async load (): Promise<Uint8Array | null> {
    const doc = await this.live().getYDoc(this.docName)
    if (doc === null) throw new SwarmdError('PERSISTENCE_FAILED', `could not read the state in ${this.location}: is another daemon using this data dir?`)
    const update = Y.encodeStateAsUpdate(doc)
    const empty = doc.store.clients.size === 0
    doc.destroy()
    return empty ? null : update
  }

  async append (update: Uint8Array): Promise<void> {
    const clock = await this.live().storeUpdate(this.docName, update)
    // y-leveldb resolves null (and only logs) when the write failed
    if (clock === null) throw new SwarmdError('PERSISTENCE_FAILED', `could not write to ${this.location}: check the disk and permissions`)
  }

  async close (): Promise<void> {
    const db = this.db
    this.db = undefined
    if (db !== undefined) await db.destroy()
  }

  private live (): LeveldbPersistence {
    if (this.db === undefined) throw new SwarmdError('PERSISTENCE_FAILED', 'update store is not open')
    return this.db
  }
}

/** In-memory store for fast tests; passes the same conformance suite as LevelDB (`runUpdateStoreTests`). */
export class MemoryUpdateStore implements UpdateStore {
  private updates: Uint8Array[] = []
  private opened = false

  async open (): Promise<void> { this.opened = true }

  async load (): Promise<Uint8Array | null> {
    this.assertOpen()
    return this.updates.length === 0 ? null : Y.mergeUpdates(this.updates)
  }

  async append (update: Uint8Array): Promise<void> {
    this.assertOpen()
    this.updates.push(update.slice())
  }

  async close (): Promise<void> { this.opened = false }

  private assertOpen (): void {
    if (!this.opened) throw new SwarmdError('PERSISTENCE_FAILED', 'update store is not open')
  }
}
