import { readFile } from 'node:fs/promises'

/** A process's memory as Linux accounts it (/proc/<pid>/status), KiB. */
export interface ProcessMemory {
  /** Resident now (VmRSS). */
  rssKiB: number
  /** The most it was ever resident (VmHWM). */
  peakKiB: number
}

export async function processMemory (pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rssKiB: kib('VmRSS'), peakKiB: kib('VmHWM') }
}

/** User + system CPU a process has used so far, in clock ticks (/proc/<pid>/stat; 100 a second on Linux). */
export async function processCpuTicks (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Field 2 (comm) may hold spaces: split after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is stat field 3 (state): utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12])
}
