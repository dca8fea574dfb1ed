import { execa } from 'execa'

export interface PythonInfo {
  path: string
  /** sys.path entries that exist: what a sandboxed run must still be able to read. */
  paths: string[]
  torch: string
  cuda: boolean
  gpus: Array<{ name: string, vramGb: number }>
}

/** Where torch usually is: Debian's python3-torch imports only from /usr/bin/python3. */
export const PYTHON_CANDIDATES = ['/usr/bin/python3', 'python3', 'python']

const PROBE = [
  'import json, torch',
  'gpus = []',
  'if torch.cuda.is_available():',
  '    for i in range(torch.cuda.device_count()):',
  '        p = torch.cuda.get_device_properties(i)',
  '        gpus.append({"name": p.name, "vramGb": round(p.total_memory / 2**30, 1)})',
  'import os, sys',
  'paths = sorted({p for p in sys.path + [sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))] if p and os.path.isdir(p)})',
  'print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available(), "gpus": gpus, "paths": paths}))'
].join('\n')

/**
 * The first interpreter (the configured one, else the usual candidates) that imports torch,
 * with what it can see; undefined when none does.
 */
export async function findPython (preferred?: string): Promise<PythonInfo | undefined> {
  const candidates = preferred !== undefined && preferred !== '' ? [preferred] : PYTHON_CANDIDATES
  for (const path of candidates) {
    const probe = await execa(path, ['-c', PROBE], { reject: false, timeout: 60_000 })
    if (probe.exitCode !== 0) continue
    try {
      const info = JSON.parse(probe.stdout.trim().split('\n').pop() ?? '') as Omit<PythonInfo, 'path'>
      return { path, ...info }
    } catch {}
  }
  return undefined
}
