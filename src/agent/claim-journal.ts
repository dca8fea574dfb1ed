import { readFile, rename, writeFile } from 'node:fs/promises'
import { z } from 'zod'
import { SerialQueue } from '../util/serial-queue.js'

/** `own-claims.json` in the data dir: the claims this node's research loops placed and may still hold. */
const journalSchema = z.strictObject({
  v: z.literal(1),
  claims: z.array(z.string().min(1).max(200)).max(10_000)
})

/**
 * The claims this node's research loops placed, kept in the data dir. A daemon killed mid-run
 * (SIGKILL, a crash, a power cut) leaves them active, and the swarm skips those experiments
 * until their ttl runs out; on its next start the daemon releases the ones still active at once
 * (`Daemon.releaseInterruptedClaims`). Claims an agent placed over the API are not kept here: an
 * agent outlives a daemon restart and goes on heartbeating them.
 *
 * A missing or unreadable file is an empty journal: it is our own note, and a corrupt one must
 * not keep a daemon from starting (its claims then expire by their ttl, as before).
 */
export class ClaimJournal {
  private held: string[] = []
  private readonly writes = new SerialQueue()

  constructor (readonly path: string) {}

  /** The claims the last run left in the journal. */
  async load (): Promise<string[]> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return []
    }
    try {
      const parsed = journalSchema.safeParse(JSON.parse(text))
      return parsed.success ? parsed.data.claims : []
    } catch {
      return []
    }
  }

  /** Note `claimId`, dropping the claims that no longer hold (`holds` false: finished, released, expired). */
  async add (claimId: string, holds: (claimId: string) => boolean): Promise<void> {
    this.held = [...this.held.filter(holds), claimId]
    await this.save()
  }

  /** Start over with an empty journal (after the last run's claims were released). */
  async clear (): Promise<void> {
    this.held = []
    await this.save()
  }

  /** Replace the file atomically (a temporary file renamed over it), one write at a time. */
  private async save (): Promise<void> {
    const claims = [...this.held]
    await this.writes.run(async () => {
      const tmp = `${this.path}.tmp`
      await writeFile(tmp, JSON.stringify({ v: 1, claims }) + '\n', { mode: 0o600 })
      await rename(tmp, this.path)
    })
  }
}
