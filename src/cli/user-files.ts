import { readFile, writeFile } from 'node:fs/promises'
import { CliError, EXIT } from './exit-codes.js'

/** Why a file could not be used, in words (the errno's meaning, not a trace). */
function reasonOf (err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such file or directory'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'it is a directory'
  return (err as Error).message
}

/** A file the user named as input (`blob add FILE`): its bytes, or a usage error naming it. */
export async function readUserFile (path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new CliError(EXIT.USAGE, 'CLI_FILE_UNREADABLE', `cannot read ${what} ${path}: ${reasonOf(err)}`)
  }
}

/** A file the user named as output (`--pull FILE`, `--out FILE`), written or a usage error naming it. */
export async function writeUserFile (path: string, bytes: Uint8Array | string, what: string): Promise<void> {
  try {
    await writeFile(path, bytes)
  } catch (err) {
    throw new CliError(EXIT.USAGE, 'CLI_FILE_UNWRITABLE', `cannot write ${what} ${path}: ${reasonOf(err)}`)
  }
}

/** The bytes of `path` now, or undefined when there is no such file. */
export async function existingFile (path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CliError(EXIT.USAGE, 'CLI_FILE_UNREADABLE', `cannot read ${path}: ${reasonOf(err)}`)
  }
}
