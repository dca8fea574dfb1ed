import { rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'

/** What a sandboxed run must not reach: a server on this machine and a file in the volunteer's home. */
export interface SandboxBait {
  /** The loopback port of a TCP server that counts its connections. */
  port: number
  /** A private file in the home folder. */
  secret: string
  connections: () => number
  remove: () => Promise<void>
}

export async function setSandboxBait (name: string): Promise<SandboxBait> {
  let connections = 0
  const server = createServer((socket) => { connections++; socket.end('hello') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const secret = join(homedir(), `.swarmd-${name}-${process.pid}`)
  await writeFile(secret, 'the volunteer\'s private file')
  return {
    port: (server.address() as AddressInfo).port,
    secret,
    connections: () => connections,
    remove: async () => {
      await rm(secret, { force: true })
      await new Promise((resolve) => server.close(resolve))
    }
  }
}
