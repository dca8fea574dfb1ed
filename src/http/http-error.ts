import { z } from 'zod'
import { isSwarmdError } from '../util/errors.js'

/** An API failure: HTTP status, stable code, a message that says what to do, and optional fields beside `error`. */
export class HttpError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly details: Record<string, unknown> = {}) { super(message) }
}

/** The HTTP status each SwarmdError code answers with; anything unlisted is a 500. */
const STATUS_OF_CODE: Record<string, number> = {
  API_BAD_REQUEST: 400,
  BLOB_BAD_ID: 400,
  RESULT_INVALID: 400,
  API_UNAUTHORIZED: 401,
  CLAIM_NOT_OWN: 403,
  BLOB_NOT_FOUND: 404,
  CLAIM_NOT_FOUND: 404,
  HYPOTHESIS_NOT_FOUND: 404,
  RESULT_NOT_FOUND: 404,
  CLAIM_CLOSED: 409,
  CLAIM_DUPLICATE: 409,
  HYPOTHESIS_DUPLICATE: 409,
  BLOB_TOO_LARGE: 413,
  RECORD_TOO_LARGE: 413,
  RECORD_MALFORMED: 400,
  HYPOTHESIS_RATE_LIMITED: 429,
  BLOB_HASH_MISMATCH: 502,
  NOT_STARTED: 503
}

/** A percent-encoded path segment, decoded; a broken encoding (`%E0%A4%A`) is the client's error, a 400. */
export function pathSegment (raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new HttpError(400, 'API_BAD_REQUEST', `the path segment ${JSON.stringify(raw.slice(0, 100))} is not valid percent-encoding`)
  }
}

/** Any thrown value as an HttpError: typed errors keep their code, the rest are internal. */
export function toHttpError (err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (isSwarmdError(err)) return new HttpError(STATUS_OF_CODE[err.code] ?? 500, err.code, err.message)
  if (err instanceof z.ZodError) return new HttpError(400, 'API_BAD_REQUEST', err.message)
  return new HttpError(500, 'INTERNAL', err instanceof Error ? err.message : String(err))
}
