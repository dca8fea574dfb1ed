import { createHash } from 'node:crypto'

/** Lowercase hex sha256 of bytes or a UTF-8 string. */
export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

const SHA256_HEX = /^[0-9a-f]{64}$/

export function isSha256Hex (value: string): boolean {
  return SHA256_HEX.test(value)
}
