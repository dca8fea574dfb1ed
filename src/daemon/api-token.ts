import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'

/**
 * The token mutating API calls must carry; created once per data dir. Kept at mode 0600: a file
 * found readable by others (copied, restored from a backup, an older swarmd) is tightened on load.
 */
export async function loadOrCreateApiToken (path: string): Promise<string> {
  try {
    const token = (await readFile(path, 'utf8')).trim()
    if (token.length >= 32) {
      if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
      return token
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('hex')
  // `mode` applies only when the file is created: a rewritten one keeps its old mode otherwise.
  await writeFile(path, token + '\n', { mode: 0o600 })
  await chmod(path, 0o600)
  return token
}
