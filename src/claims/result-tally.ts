import { arenaKey } from './budget.js'
import type { Arena } from './budget.js'
import type { ResearchLedger } from './research-ledger.js'
import type { Tier } from '../state/record-kinds.js'

/** What one node has done: its runs by outcome, the peers' results it re-ran, and its GPU time. */
export interface NodeTally {
  runs: number
  keeps: number
  discards: number
  crashes: number
  verifications: number
  /** Hours of runs and re-runs on a GPU tier, from the runs' own reports (crashes report none). */
  gpuHours: number
}

/** One arena's results: how many, and how many crashed (no number to rank). */
export interface ArenaTally extends Arena {
  results: number
  crashes: number
}

/**
 * Counts over the ledger's results and verifications, kept up to date from its arrivals (each
 * record once), so the status page's counts cost nothing at 100,000 results. Started again
 * without them when evidence convicts an author (its records no longer count).
 */
export class ResultTally {
  private cursor = 0
  private convictions = 0
  private node = emptyTally()
  private arenas = new Map<string, ArenaTally>()
  private total = 0

  constructor (private readonly ledger: ResearchLedger, private readonly self: string) {}

  /** This node's own tally. */
  ownTally (): NodeTally {
    this.catchUp()
    return { ...this.node }
  }

  /** Results of this harness in all. */
  results (): number {
    this.catchUp()
    return this.total
  }

  /** The arenas results ran in, the most results first. */
  arenaTallies (): ArenaTally[] {
    this.catchUp()
    return [...this.arenas.values()].map((a) => ({ ...a })).sort((a, b) => b.results - a.results)
  }

  private catchUp (): void {
    if (this.ledger.convictions !== this.convictions) {
      this.convictions = this.ledger.convictions
      this.cursor = 0
      this.node = emptyTally()
      this.arenas = new Map()
      this.total = 0
    }
    const arrivals = this.ledger.arrivalsSince(this.cursor)
    this.cursor += arrivals.length
    for (const arrival of arrivals) {
      if (arrival.kind === 'claim' || this.ledger.isConvicted(arrival.entry.author)) continue
      const { author, body } = arrival.entry
      const mine = author === this.self
      const hours = onGpu(body.hardware.tier) && body.metrics !== null ? body.metrics.total_seconds / 3600 : 0
      if (arrival.kind === 'verification') {
        if (mine) {
          this.node.verifications++
          this.node.gpuHours += hours
        }
        continue
      }
      const result = arrival.entry.body
      this.total++
      const arena: Arena = { tier: result.hardware.tier, maxSteps: result.maxSteps }
      const key = arenaKey(arena)
      const tally = this.arenas.get(key) ?? { ...arena, results: 0, crashes: 0 }
      tally.results++
      if (result.status === 'crash') tally.crashes++
      this.arenas.set(key, tally)
      if (!mine) continue
      this.node.runs++
      this.node.gpuHours += hours
      if (result.status === 'keep') this.node.keeps++
      else if (result.status === 'discard') this.node.discards++
      else this.node.crashes++
    }
  }
}

function emptyTally (): NodeTally {
  return { runs: 0, keeps: 0, discards: 0, crashes: 0, verifications: 0, gpuHours: 0 }
}

function onGpu (tier: Tier): boolean {
  return tier !== 'cpu'
}
