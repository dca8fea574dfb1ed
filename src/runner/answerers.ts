import { spawnConfined } from './spawn.js'
import type { ConfinedCommand } from './spawn.js'
import type { execa } from 'execa'

/** How much of an answerer's output is kept (its end): enough for the line it died on. */
const TAIL_BYTES = 4096

/**
 * The evaluation's answerers: the harness's own processes (train/prepare.py `serve_answers`),
 * each in a sandbox of its own, that load the model's program (the forward pass the trained run
 * traced) and answer the evaluator's questions with it. Started beside the trained run, they
 * import PyTorch while it trains.
 * `lostBecause` says why once one has exited while the evaluation still needed it (the runner
 * stops the run when the evaluator has connected: it would wait for that answerer forever).
 */
export class Answerers {
  private readonly children: Array<ReturnType<typeof execa>>
  private readonly tails: string[]
  private readonly exits: Array<Promise<void>>
  private lost: string | undefined

  constructor (commands: ConfinedCommand[], private readonly stillNeeded: () => boolean) {
    this.tails = commands.map(() => '')
    this.children = commands.map((command, i) => {
      const child = spawnConfined(command)
      child.all?.setEncoding('utf8')
      child.all?.on('data', (chunk: string) => { this.tails[i] = (this.tails[i]! + chunk).slice(-TAIL_BYTES) })
      return child
    })
    this.exits = this.children.map(async (child, i) => {
      const result = await child.then((r) => r, () => undefined)
      // The verdict may still be in the evaluator's pipe when an answerer ends after it: a moment's grace.
      if (!this.stillNeeded()) return
      await delay(1_000)
      if (!this.stillNeeded() || this.lost !== undefined) return
      const status = result?.exitCode !== undefined ? `exit code ${result.exitCode}` : `signal ${String(result?.signal ?? '?')}`
      this.lost = `answerer ${i} (the harness's answerer, running the model's program) exited (${status}) before the evaluation ended: ${lastLine(this.tails[i]!) || 'it printed nothing'}`
    })
  }

  /** Why the evaluation lost an answerer, if it did. */
  get lostBecause (): string | undefined {
    return this.lost
  }

  /** Each answerer's last output, for the run's log. */
  outputs (): string[] {
    return this.tails.map((t) => t.trim())
  }

  /** Kill every answerer and whatever it started (their own process groups), and wait for them. */
  async kill (): Promise<void> {
    for (const child of this.children) {
      if (child.pid === undefined) continue
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
    }
    await Promise.all(this.exits)
  }
}

function lastLine (output: string): string {
  const lines = output.trim().split(/\r?\n/)
  const exception = lines.findLast((line) => /^[A-Za-z_][\w.]*(Error|Exception|Refused|Exit)\b/.test(line))
  return (exception ?? lines.at(-1) ?? '').trim()
}

async function delay (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
