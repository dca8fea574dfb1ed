/** Stable error codes: tests and the CLI branch on these, never on message text. */
export type SwarmdErrorCode =
  | 'CONFIG_INVALID'
  | 'DATA_DIR_UNUSABLE'
  | 'PORT_IN_USE'
  | 'DAEMON_NOT_RUNNING'
  | 'API_REPLY_INVALID'
  | 'DAEMON_ALREADY_RUNNING'
  | 'API_BAD_REQUEST'
  | 'API_UNAUTHORIZED'
  | 'PERSISTENCE_FAILED'
  | 'BLOB_NOT_FOUND'
  | 'BLOB_HASH_MISMATCH'
  | 'BLOB_TOO_LARGE'
  | 'BLOB_BAD_ID'
  | 'BLOB_RATE_LIMITED'
  | 'CODEC_MALFORMED'
  | 'EMBEDDER_WEIGHTS_MISMATCH'
  | 'EMBEDDER_MODEL_UNAVAILABLE'
  | 'EMBEDDER_DIMENSION_MISMATCH'
  | 'CLAIM_NOT_FOUND'
  | 'CLAIM_NOT_OWN'
  | 'CLAIM_CLOSED'
  | 'CLAIM_DUPLICATE'
  | 'HYPOTHESIS_NOT_FOUND'
  | 'HYPOTHESIS_DUPLICATE'
  | 'HYPOTHESIS_RATE_LIMITED'
  | 'RESULT_INVALID'
  | 'RESULT_NOT_FOUND'
  | 'SANDBOX_REQUIRED'
  | 'LIMITS_REQUIRED'
  | 'CGROUP_FAILED'
  | 'CORPUS_UNAVAILABLE'
  | 'CORPUS_FETCH_FAILED'
  | 'CORPUS_CHECKSUM_MISMATCH'
  | 'NOT_STARTED'
  | 'PROPOSAL_TIMEOUT'
  | 'PROPOSAL_FAILED'
  | 'PROPOSAL_MALFORMED'
  | 'PROPOSAL_EXHAUSTED'
  | 'SYNC_REQUEST_TOO_LARGE'
  | 'RECORD_TOO_LARGE'
  | 'RECORD_NOT_JSON'
  | 'RECORD_NOT_CANONICAL'
  | 'RECORD_MALFORMED'
  | 'RECORD_BAD_AUTHOR'
  | 'RECORD_BAD_SIGNATURE'
  | 'RECORD_BAD_EVIDENCE'

/** An error with a stable `code` and a message that says what to do. */
export class SwarmdError extends Error {
  readonly code: SwarmdErrorCode

  constructor (code: SwarmdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SwarmdError'
    this.code = code
  }
}

export function isSwarmdError (err: unknown, code?: SwarmdErrorCode): err is SwarmdError {
  return err instanceof SwarmdError && (code === undefined || err.code === code)
}
