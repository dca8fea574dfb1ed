/** Exit codes of the `swarmd` CLI; scripts and agents branch on these. */
export const EXIT = {
  OK: 0,
  /** Something unexpected failed; the message says what. */
  FAILURE: 1,
  /** Bad flags, arguments or configuration. */
  USAGE: 2,
  /** No daemon runs for this data dir. */
  NOT_RUNNING: 4,
  /** The daemon refused the request (bad input, missing token). */
  REFUSED: 5,
  /** A blob or record was not found anywhere reachable. */
  NOT_FOUND: 6
} as const
