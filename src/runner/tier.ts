import type { Tier } from '../state/record-kinds.js'

/** Hardware tier by GPU memory (DESIGN §4: ≤16, ≤24, ≤48, >48 GB). */
export function tierOf (vramGb: number): Tier {
  if (vramGb <= 16) return 'vram16'
  if (vramGb <= 24) return 'vram24'
  if (vramGb <= 48) return 'vram48'
  return 'vram48plus'
}
