import { execa } from 'execa'

/** A confined command, as `ExecaExperimentRunner.confined` builds it. */
export interface ConfinedCommand {
  command: string
  args: string[]
  cwd: string
  /** The whole environment: nothing of the daemon's is added. */
  env: Record<string, string>
  /** Bytes the command reads from its fd 3, a pipe (the seccomp filter for bubblewrap). */
  fd3?: Uint8Array
}

/**
 * Start a confined command: its own process group (a kill takes every child), no stdin, stdout
 * and stderr merged and streamed, only the given environment.
 */
export function spawnConfined (start: ConfinedCommand): ReturnType<typeof execa> {
  return execa(start.command, start.args, {
    cwd: start.cwd,
    env: start.env,
    extendEnv: false,
    detached: true,
    reject: false,
    all: true,
    buffer: false,
    stdio: start.fd3 === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', start.fd3]
  })
}
