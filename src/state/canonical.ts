import canonicalize from 'canonicalize'

/**
 * RFC 8785 canonical JSON: one byte string per value, so a signature or a hash over it
 * is the same on every machine.
 */
export function canonicalJson (value: unknown): string {
  const text = canonicalize(value)
  if (text === undefined) throw new TypeError('value has no JSON form')
  return text
}
