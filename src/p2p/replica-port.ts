/**
 * What the network needs from the replicated state: p2p knows no records, only bytes
 * and the verdict the state's validator gives them.
 */
export interface ReplicaPort {
  /** What this replica holds, as a sync request of at most `maxBytes` (fingerprints dropped first; past that it throws SYNC_REQUEST_TOO_LARGE). */
  encodeStateVector(maxBytes?: number): Uint8Array
  /**
   * Updates a peer with this state vector lacks, one per independently checkable unit, encoded
   * as they are taken. Throws at once on a state vector that does not decode.
   */
  diffsFor(stateVector: Uint8Array): Iterable<Uint8Array>
  /** How many records an update carries, read cheaply before any validation (budgets charge by it); at least 1. */
  recordsIn(update: Uint8Array): number
  /** Validate, then apply only if valid. */
  applyRemote(update: Uint8Array): Promise<ApplyResult>
}

export interface ApplyResult {
  verdict: 'accept' | 'ignore' | 'reject'
  fault?: string
  message?: string
  /** The signer to charge instead of the sender: two valid records conflict. */
  culprit?: string
  added: number
}
