import { statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { SwarmdError } from '../util/errors.js'

/** Files inside a data dir. */
export function dataPaths (dataDir: string) {
  return {
    root: dataDir,
    identity: join(dataDir, 'identity.key'),
    config: join(dataDir, 'config.json'),
    apiToken: join(dataDir, 'api-token'),
    /** Written by a running daemon: where its API and libp2p listen. */
    daemonInfo: join(dataDir, 'daemon.json'),
    state: (swarm: string) => join(dataDir, 'state', swarm),
    blobs: join(dataDir, 'blobs'),
    /** The gpu profiles' corpus: the shards, the flat train.txt and val.txt, corpus.json. */
    webCorpus: join(dataDir, 'corpus', 'web'),
    /** Peers blocked for bad input, with when each block ends: survives restarts. */
    blocklist: join(dataDir, 'blocklist.json'),
    /** The claims this node's research loops run under, released at the next start if a crash left them active. */
    ownClaims: join(dataDir, 'own-claims.json'),
    /** `swarmd start`'s JSON log (`swarmd logs` prints it); rotated to `swarmd.log.1` at 10 MiB (src/daemon/daemon-log.ts). */
    logFile: join(dataDir, 'logs', 'swarmd.log')
  }
}

export type DataPaths = ReturnType<typeof dataPaths>

/** `--data-dir`, else `$SWARMD_DATA_DIR`, else `$XDG_DATA_HOME/swarmd`, else `~/.local/share/swarmd`. */
export function resolveDataDir (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return resolve(flag)
  if (env.SWARMD_DATA_DIR !== undefined && env.SWARMD_DATA_DIR !== '') return resolve(env.SWARMD_DATA_DIR)
  const xdg = env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share')
  return join(xdg, 'swarmd')
}

/** `dir` as a data dir: missing (it is made when needed) or a directory, else DATA_DIR_UNUSABLE saying what to pass instead. */
export function usableDataDir (dir: string): string {
  let isDirectory: boolean
  try {
    isDirectory = statSync(dir).isDirectory()
  } catch {
    return dir
  }
  if (!isDirectory) throw new SwarmdError('DATA_DIR_UNUSABLE', `the data dir ${dir} is a file, not a directory: pass --data-dir (or SWARMD_DATA_DIR) a directory`)
  return dir
}
