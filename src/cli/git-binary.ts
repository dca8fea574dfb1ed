import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createInterface } from 'node:readline'
import { execa } from 'execa'
import { CliError, EXIT } from './exit-codes.js'

/**
 * The `git` binary, run in one repository with an environment of its own: no system or user
 * config (no signing, templates, hooks path or name of the user's), no GIT_DIR or GIT_WORK_TREE
 * inherited from a hook the CLI may run in, C locale. What a stranger wrote (descriptions, code)
 * reaches git only on stdin, never in argv.
 */
export class GitBinary {
  constructor (readonly dir: string) {}

  /** Run `git ARGS` in the repository; its stdout, trimmed. Fails with CLI_GIT_FAILED naming the command. */
  async run (args: string[], opts: { input?: string } = {}): Promise<string> {
    const result = await this.spawn(args, opts.input)
    if (result.exitCode !== 0) throw failed(args, result.stderr)
    return result.stdout.trim()
  }

  /** Like `run`, but a non-zero exit is an answer (undefined), not a failure: `rev-parse --verify -q`. */
  async tryRun (args: string[], opts: { input?: string } = {}): Promise<string | undefined> {
    const result = await this.spawn(args, opts.input)
    return result.exitCode === 0 ? result.stdout.trim() : undefined
  }

  /**
   * `git fast-import` fed from `stream`; each `progress` line the stream holds is handed to
   * `onProgress` once git has written everything before it. Refs it names are overwritten
   * (`--force`); a stream cut short writes nothing (`--done`). Each mark's object id is written to
   * `marksFile` (`:<mark> <id>` a line).
   */
  async fastImport (stream: AsyncIterable<Uint8Array>, marksFile: string, onProgress: (line: string) => void): Promise<void> {
    const args = ['fast-import', '--quiet', '--force', '--done', '--date-format=raw', `--export-marks=${marksFile}`]
    const child = execa('git', args, { cwd: this.dir, env: { ...gitEnv(), GLIBC_TUNABLES: FAST_IMPORT_MALLOC }, extendEnv: false, reject: false, buffer: { stdout: false, stderr: true }, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' })
    const progress = (async () => {
      for await (const line of createInterface({ input: child.stdout })) {
        if (line.startsWith('progress ')) onProgress(line.slice('progress '.length))
      }
    })()
    // A git that exits early (a bad stream) closes its stdin: its exit status says why, not EPIPE.
    const fed = pipeline(Readable.from(stream), child.stdin).catch((err: unknown) => err)
    const result = await child
    const feedError = await fed
    await progress
    if (isMissing(result)) throw missingGit()
    // The stream's own failure (a source the daemon could not serve) is the cause; git then only saw its input end.
    if (feedError !== undefined && !closedByGit(feedError)) throw feedError
    if (result.exitCode !== 0) throw failed(args, String(result.stderr))
  }

  private async spawn (args: string[], input: string | undefined): Promise<{ exitCode: number | undefined, stdout: string, stderr: string }> {
    const result = await execa('git', args, { cwd: this.dir, env: gitEnv(), extendEnv: false, reject: false, ...(input !== undefined ? { input } : { stdin: 'ignore' as const }) })
    if (isMissing(result)) throw missingGit()
    return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) }
  }
}

/**
 * glibc's malloc for fast-import: keep freed memory instead of handing it back after every object
 * (zlib's state for each is 256 KiB, over the trim threshold). On a Firecracker VM, where each
 * brk cost 89 µs, 5,000 results took 15 s with glibc's defaults and 0.6 s with these.
 */
const FAST_IMPORT_MALLOC = 'glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=16777216'

/** The environment every git command runs with: nothing of the user's config, nothing that redirects it. */
function gitEnv (): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0'
  }
}

function isMissing (result: { code?: string }): boolean {
  return result.code === 'ENOENT'
}

/** A write that failed because git had stopped reading (it exited first): git's exit status says why. */
function closedByGit (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED'
}

function missingGit (): CliError {
  return new CliError(EXIT.FAILURE, 'CLI_GIT_MISSING', 'this command needs the git binary, and there is none on PATH: install git (Debian or Ubuntu: `sudo apt-get install git`; macOS: `xcode-select --install`)')
}

function failed (args: string[], stderr: string): CliError {
  return new CliError(EXIT.FAILURE, 'CLI_GIT_FAILED', `git ${args[0] ?? ''} failed: ${stderr.trim().split('\n').slice(-3).join(' ') || 'no message'}`)
}
