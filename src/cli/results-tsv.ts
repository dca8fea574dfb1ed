import { budgetLabel } from '../claims/budget.js'
import type { ResultJson } from '../http/api-contract.js'

/**
 * autoresearch's results.tsv: `commit	val_bpb	memory_gb	status	description`, oldest first.
 * `commitOf` gives each result's commit id in a lineage repository (`swarmd git`, `export --git`):
 * its first 7 hex digits fill the commit column, and a result it has no commit for is left out.
 * Without it, the column holds the first 7 hex digits of the source's sha256 (the blob that `best
 * --pull` and `blob get` fetch). Crashes report 0 for val_bpb and memory, as autoresearch does.
 * Two columns follow autoresearch's five, `tier` and `budget` ("time budget" or "150 steps"):
 * only rows of one tier and budget compare (a reader by column name ignores them).
 */
export function resultsTsv (rows: ResultJson[], commitOf?: (r: ResultJson) => string | undefined): string {
  const lines = ['commit\tval_bpb\tmemory_gb\tstatus\tdescription\ttier\tbudget']
  for (const r of [...rows].sort((a, b) => a.createdAt - b.createdAt)) {
    const commit = commitOf === undefined ? r.codeHash : commitOf(r)
    if (commit === undefined) continue
    const crashed = r.status === 'crash' || r.metrics === null
    const valBpb = crashed ? '0.000000' : r.metrics!.val_bpb.toFixed(6)
    const memoryGb = crashed ? '0.0' : (r.metrics!.peak_vram_mb / 1024).toFixed(1)
    const description = r.description.replace(/[\t\r\n]+/g, ' ').trim()
    lines.push([commit.slice(0, 7), valBpb, memoryGb, r.status, description, r.hardware.tier, budgetLabel(r.maxSteps)].join('\t'))
  }
  return lines.join('\n') + '\n'
}
