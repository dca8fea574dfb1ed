import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { z } from 'zod'
import { SwarmdError } from '../util/errors.js'
import { isAlive } from '../util/process-alive.js'

/** What a running daemon writes into its data dir so the CLI can find it. */
export const daemonInfoSchema = z.object({
  pid: z.number().int(),
  peerId: z.string(),
  swarm: z.string(),
  api: z.string().url(),
  listen: z.array(z.string()),
  startedAt: z.number()
})

export type DaemonInfo = z.infer<typeof daemonInfoSchema>

export async function writeDaemonInfo (path: string, info: DaemonInfo): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n')
  await rename(tmp, path)
}

export async function removeDaemonInfo (path: string): Promise<void> {
  await rm(path, { force: true })
}

/** The running daemon's info, or DAEMON_NOT_RUNNING with what to do. */
export async function readDaemonInfo (path: string): Promise<DaemonInfo> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    throw new SwarmdError('DAEMON_NOT_RUNNING', `no daemon is running for this data dir (${path} is missing): start one with \`swarmd start\``)
  }
  const parsed = daemonInfoSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new SwarmdError('DAEMON_NOT_RUNNING', `${path} is unreadable; restart the daemon`)
  return parsed.data
}

/** Refuse to start a second daemon on a data dir whose daemon is alive. */
export async function assertNoRunningDaemon (path: string): Promise<void> {
  let info: DaemonInfo
  try {
    info = await readDaemonInfo(path)
  } catch {
    return
  }
  if (info.pid === process.pid || !isAlive(info.pid)) return
  throw new SwarmdError('DAEMON_ALREADY_RUNNING', `a daemon (pid ${info.pid}, ${info.api}) already runs on this data dir: stop it first, or pick another --data-dir`)
}

