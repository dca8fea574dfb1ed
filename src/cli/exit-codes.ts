/** Exit codes of the `swarmd` CLI; scripts and agents branch on these (docs/agent-api.md). */
export const EXIT = {
  OK: 0,
  /** Something unexpected failed; the message says what. */
  FAILURE: 1,
  /** Bad flags, arguments or configuration. */
  USAGE: 2,
  /** The claim or hypothesis repeats one the swarm already has: pick something else. */
  DUPLICATE: 3,
  /** No daemon runs for this data dir. */
  NOT_RUNNING: 4,
  /** The daemon refused the request (bad input, missing token, not your claim). */
  REFUSED: 5,
  /** A claim, hypothesis, result or blob was not found anywhere reachable. */
  NOT_FOUND: 6,
  /** The claim no longer stands (expired, released or finished): claim again. */
  CLAIM_CLOSED: 7,
  /** Over the hourly allowance (hypotheses): wait. */
  RATE_LIMITED: 8,
  /** The claim may repeat experiments the swarm has (the grey band): judge them, then claim again with `--distinct-from`. */
  UNCERTAIN: 9
} as const

export type ExitCode = typeof EXIT[keyof typeof EXIT]

/** A failure the CLI itself detects (an unreadable file, an ambiguous id), with its exit code. */
export class CliError extends Error {
  constructor (readonly exit: ExitCode, readonly code: string, message: string) {
    super(message)
    this.name = 'CliError'
  }
}

const BY_CODE: Record<string, ExitCode> = {
  DAEMON_NOT_RUNNING: EXIT.NOT_RUNNING,
  CONFIG_INVALID: EXIT.USAGE,
  DATA_DIR_UNUSABLE: EXIT.USAGE,
  PORT_IN_USE: EXIT.USAGE,
  DAEMON_ALREADY_RUNNING: EXIT.USAGE,
  CLAIM_DUPLICATE: EXIT.DUPLICATE,
  CLAIM_UNCERTAIN: EXIT.UNCERTAIN,
  HYPOTHESIS_DUPLICATE: EXIT.DUPLICATE,
  CLAIM_NOT_FOUND: EXIT.NOT_FOUND,
  HYPOTHESIS_NOT_FOUND: EXIT.NOT_FOUND,
  RESULT_NOT_FOUND: EXIT.NOT_FOUND,
  BLOB_NOT_FOUND: EXIT.NOT_FOUND,
  CLAIM_CLOSED: EXIT.CLAIM_CLOSED,
  HYPOTHESIS_RATE_LIMITED: EXIT.RATE_LIMITED,
  API_BAD_REQUEST: EXIT.REFUSED,
  API_UNAUTHORIZED: EXIT.REFUSED,
  CLAIM_NOT_OWN: EXIT.REFUSED,
  RESULT_INVALID: EXIT.REFUSED
}

/**
 * The exit code for an error code; an API error with a code this table lacks falls back on
 * its HTTP status (404 not found, 409 duplicate, 429 rate limited, other 4xx refused).
 */
export function exitCodeFor (code: string, httpStatus?: number): ExitCode {
  const known = BY_CODE[code]
  if (known !== undefined) return known
  if (httpStatus === undefined) return EXIT.FAILURE
  if (httpStatus === 404) return EXIT.NOT_FOUND
  if (httpStatus === 409) return EXIT.DUPLICATE
  if (httpStatus === 429) return EXIT.RATE_LIMITED
  if (httpStatus >= 400 && httpStatus < 500) return EXIT.REFUSED
  return EXIT.FAILURE
}

/** What to do next, for the codes whose daemon message may not say it. */
const NEXT_STEP: Record<string, string> = {
  CLAIM_CLOSED: 'this claim cannot be heartbeated or published to any more: `swarmd claim` the experiment again, or pick another',
  CLAIM_NOT_OWN: 'only the daemon that made a claim can heartbeat, release or publish it',
  API_UNAUTHORIZED: 'the CLI reads the token from the data dir: pass the daemon\'s --data-dir',
  HYPOTHESIS_NOT_FOUND: 'list them with `swarmd hypothesis list`',
  CLAIM_NOT_FOUND: 'list claims with `swarmd claims`'
}

/** A one-line message for stderr: the error, its code, and what to do when the message lacks it. */
export function errorLine (message: string, code: string): string {
  const next = NEXT_STEP[code]
  const says = next === undefined || message.includes('swarmd ') || message.includes('claim the experiment again')
  return `swarmd: ${message.replace(/\s*\n\s*/g, ' ')} (${code})${says ? '' : `; ${next}`}`
}
