import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { SwarmdError } from '../util/errors.js'
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'

export interface Identity {
  privateKey: Ed25519PrivateKey
  peerId: PeerId
}

export async function generateIdentity (): Promise<Identity> {
  const privateKey = await generateKeyPair('Ed25519')
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey) }
}

/**
 * The daemon's persistent Ed25519 key (the PeerId is its public key): read from `path`,
 * or created there (mode 0600) on first use.
 */
export async function loadOrCreateIdentity (path: string): Promise<Identity & { created: boolean }> {
  let bytes: Buffer | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SwarmdError('DATA_DIR_UNUSABLE', `cannot read the identity key ${path}: ${(err as Error).message}`)
    }
  }
  if (bytes !== undefined) {
    let key
    try {
      key = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new SwarmdError('DATA_DIR_UNUSABLE', `the identity key ${path} is corrupt; move it away to create a new identity`, { cause: err })
    }
    if (key.type !== 'Ed25519') throw new SwarmdError('DATA_DIR_UNUSABLE', `the identity key ${path} is not Ed25519`)
    return { privateKey: key, peerId: peerIdFromPrivateKey(key), created: false }
  }
  const identity = await generateIdentity()
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, privateKeyToProtobuf(identity.privateKey), { mode: 0o600, flag: 'wx' })
  await chmod(path, 0o600)
  return { ...identity, created: true }
}
