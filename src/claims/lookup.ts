import { SwarmdError } from '../util/errors.js'
import type { ClaimEntry, ResearchLedger, ResultEntry } from './research-ledger.js'
import type { HypothesisBook, HypothesisEntry } from './hypotheses.js'

/** Shortest id prefix accepted in place of a full id: 8 hex digits make a collision unlikely in one swarm. */
export const MIN_PREFIX = 8

/** A claim by id or unique prefix; undefined when none matches. */
export function findClaim (ledger: ResearchLedger, idOrPrefix: string): ClaimEntry | undefined {
  return ledger.claim(idOrPrefix) ?? uniquePrefix(ledger.allClaims(), idOrPrefix, 'claim')
}

/** A result of this harness by id or unique prefix. */
export function findResult (ledger: ResearchLedger, idOrPrefix: string): ResultEntry {
  const found = ledger.result(idOrPrefix) ?? uniquePrefix(ledger.allResults(), idOrPrefix, 'result')
  if (found === undefined) throw new SwarmdError('RESULT_NOT_FOUND', `no result ${idOrPrefix} is known for this harness; list them with \`swarmd results\`, or build on the default train.py with --parent none`)
  return found
}

/** The full id of a claim or result given by id or unique prefix (what an agent judged distinct). */
export function findEntryId (ledger: ResearchLedger, idOrPrefix: string): string {
  const found = ledger.claim(idOrPrefix) ?? ledger.result(idOrPrefix) ?? uniquePrefix([...ledger.allClaims(), ...ledger.allResults()], idOrPrefix, 'claim or result')
  if (found === undefined) throw new SwarmdError('CLAIM_NOT_FOUND', `no claim or result ${idOrPrefix} is known to this daemon; name the ones a CLAIM_UNCERTAIN answer listed`)
  return found.id
}

/** A visible hypothesis by id or unique prefix. */
export function findHypothesis (hypotheses: HypothesisBook, idOrPrefix: string): HypothesisEntry {
  const all = hypotheses.list()
  const found = all.find((h) => h.id === idOrPrefix) ?? uniquePrefix(all, idOrPrefix, 'hypothesis')
  if (found === undefined) throw new SwarmdError('HYPOTHESIS_NOT_FOUND', `no hypothesis ${idOrPrefix} is known; list them with \`swarmd hypothesis list\``)
  return found
}

function uniquePrefix<T extends { id: string }> (entries: T[], prefix: string, what: string): T | undefined {
  if (prefix.length < MIN_PREFIX) return undefined
  const matches = entries.filter((e) => e.id.startsWith(prefix))
  if (matches.length > 1) throw new SwarmdError('API_BAD_REQUEST', `${what} prefix ${prefix} is ambiguous (${matches.length} match); give more of the id`)
  return matches[0]
}
