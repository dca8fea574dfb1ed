import { readFile, readdir, readlink } from 'node:fs/promises'

/** Live processes working in a folder under `root` (a run's processes keep its workspace as cwd). */
export async function processesUnder (root: string): Promise<number> {
  let found = 0
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    try {
      const cwd = await readlink(`/proc/${pid}/cwd`)
      const state = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ').pop()?.[0]
      if (cwd.startsWith(root) && state !== 'Z') found++
    } catch {}
  }
  return found
}

/** Live processes whose real uid is `uid` (a sandboxed run's user under a root daemon). */
export async function processesOfUid (uid: number): Promise<number> {
  let found = 0
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8')
      const real = /^Uid:\s+(\d+)/m.exec(status)?.[1]
      const state = /^State:\s+(\S)/m.exec(status)?.[1]
      if (Number(real) === uid && state !== 'Z') found++
    } catch {}
  }
  return found
}
