import type { Tier } from '../state/record-kinds.js'

/**
 * The budget a run trained to: the profile's time budget (`maxSteps` unset) or a fixed step count.
 * Runs to different budgets never compare, so every ranking, series and table is of one arena: one
 * tier and one budget.
 */

/** How a budget reads in tables and on the page: "time budget" or "150 steps". */
export function budgetLabel (maxSteps: number | undefined | null): string {
  return maxSteps == null ? 'time budget' : `${maxSteps} steps`
}

/** A budget as a query parameter: `time` or the step count. */
export function budgetParam (maxSteps: number | undefined | null): string {
  return maxSteps == null ? 'time' : String(maxSteps)
}

/** The inverse of `budgetParam`; undefined when the text names no budget. */
export function parseBudgetParam (text: string): { maxSteps: number | undefined } | undefined {
  if (text === 'time') return { maxSteps: undefined }
  if (!/^[1-9]\d{0,8}$/.test(text)) return undefined
  return { maxSteps: Number(text) }
}

/** One arena: results of one tier trained to one budget, the only ones that rank together. */
export interface Arena {
  tier: Tier
  maxSteps: number | undefined
}

export function arenaKey (arena: Arena): string {
  return `${arena.tier}/${budgetParam(arena.maxSteps)}`
}

export function sameArena (body: { hardware: { tier: Tier }, maxSteps?: number | undefined }, arena: Arena): boolean {
  return body.hardware.tier === arena.tier && body.maxSteps === arena.maxSteps
}
