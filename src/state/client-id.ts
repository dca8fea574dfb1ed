import { createHash } from 'node:crypto'
import type { Rng } from '../util/rng.js'

// Domain separation: these hashes mean nothing anywhere else.
const CLIENT_ID_PREFIX = 'swarmd/client-id/1\n'

/**
 * The Yjs client id an author writes with in one session: the top 53 bits (the most a JS number
 * holds exactly) of sha256(author, session). Nobody can bind someone else's client id to
 * itself, so the first binding a newcomer sees is as good as any: taking over a given id needs
 * ~2^53 hashes with one's own key (days of a GPU per id, for one session's records on the nodes
 * that see the forgery first), and two honest sessions share an id with odds of n²/2^54.
 */
export function clientIdFor (author: string, session: string): number {
  const digest = createHash('sha256').update(`${CLIENT_ID_PREFIX}${author}\n${session}`).digest()
  return digest.readUIntBE(0, 6) * 32 + (digest[6]! >> 3)
}

/** A fresh random session: 128 bits, hex. */
export function newSession (rng: Rng): string {
  let session = ''
  for (let i = 0; i < 4; i++) session += rng.int(2 ** 32).toString(16).padStart(8, '0')
  return session
}
