// y-leveldb ships no `types` in its package exports: the part of its API swarmd uses.
declare module 'y-leveldb' {
  import type * as Y from 'yjs'
  export class LeveldbPersistence {
    constructor (location: string, opts?: { levelOptions?: Record<string, unknown> })
    /** Resolves the clock of the stored update, or null when the write failed (the error is only logged). */
    storeUpdate (docName: string, update: Uint8Array): Promise<number | null>
    /** Resolves the merged doc, or null when the read failed. */
    getYDoc (docName: string): Promise<Y.Doc | null>
    flushDocument (docName: string): Promise<void>
    destroy (): Promise<void>
  }
}
