import { readFile, rename, writeFile } from 'node:fs/promises'
import { z } from 'zod'

/** `blocklist.json` in the data dir: peer id → blocked until (ms since the epoch). */
const blocklistSchema = z.strictObject({
  v: z.literal(1),
  blocked: z.record(z.string().min(1).max(200), z.number().int().nonnegative())
})

/**
 * Where blocked peers survive a restart. A missing or unreadable file is an empty list: the
 * file is our own cache, and a corrupt one must not keep a daemon from starting.
 */
export class BlocklistFile {
  constructor (readonly path: string) {}

  async load (): Promise<Map<string, number>> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return new Map()
    }
    try {
      const parsed = blocklistSchema.safeParse(JSON.parse(text))
      return parsed.success ? new Map(Object.entries(parsed.data.blocked)) : new Map()
    } catch {
      return new Map()
    }
  }

  /** Replace the file atomically (write a temporary file, then rename it over). */
  async save (blocked: ReadonlyMap<string, number>): Promise<void> {
    const tmp = `${this.path}.tmp`
    await writeFile(tmp, JSON.stringify({ v: 1, blocked: Object.fromEntries(blocked) }, null, 1), { mode: 0o600 })
    await rename(tmp, this.path)
  }
}
