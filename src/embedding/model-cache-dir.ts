import { constants } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The machine's model cache unless configured: `$XDG_CACHE_HOME/swarmd/models`, else `~/.cache/swarmd/models`. */
export function defaultModelCacheDir (env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache')
  return join(base, 'swarmd', 'models')
}

/**
 * Where the MiniLM model is built and loaded from: one directory per machine (`configured`, or
 * `defaultModelCacheDir`), so every data dir on it shares one 90 MB model built once, instead of
 * building its own. Where that directory cannot be written (a read-only home), the data dir's own
 * `models/` is used instead, and the log says so.
 */
export async function modelCacheDir (configured: string, dataDir: string, log: (line: string) => void): Promise<string> {
  const shared = configured !== '' ? configured : defaultModelCacheDir()
  try {
    await mkdir(shared, { recursive: true, mode: 0o700 })
    await access(shared, constants.W_OK)
    return shared
  } catch (err) {
    const own = join(dataDir, 'models')
    log(`warning: the model cache ${shared} cannot be written (${(err as Error).message}); building the model in ${own} instead (set modelCacheDir, SWARMD_MODEL_CACHE_DIR, to share one)`)
    return own
  }
}
