/**
 * Jepsen-style chaos (issue 17): N daemons in network namespaces, researching on the surrogate and
 * taking hypotheses from a client, while a seeded nemesis partitions, bridges, drops packets one
 * way, throttles links and kills daemons (bench/chaos/chaos-run.ts). Prints the fault timeline,
 * then what survived. Needs root, ip and iptables (bash scripts/install-system-deps.sh --test).
 *
 *   npm run bench:chaos -- --minutes 10
 *   npm run bench:chaos -- --seed 42 --minutes 2      # replay a seed
 */
import { pathToFileURL } from 'node:url'
import { runChaos } from './chaos/chaos-run.js'
import { DEFAULT_LANDSCAPE } from './swarm.js'
import { machineLine, parseFlags, progress } from './harness.js'
import type { ChaosReport } from './chaos/chaos-run.js'

/** The report as lines: the timeline, then one line per check. */
export function describeChaos (report: ChaosReport): string[] {
  return [
    `seed ${report.seed}`,
    ...report.timeline.map((line) => `  ${line}`),
    `acknowledged ${report.acknowledged} hypotheses; missing after the heal: ${report.missing.length}`,
    `converged: ${report.converged ? `yes, ${((report.convergeMs ?? 0) / 1000).toFixed(1)} s after the heal` : 'NO'}; distinct digests ${new Set(report.digests).size}`,
    `records on daemon 0: ${Object.entries(report.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `kills ${report.kills}; unexpected exits ${report.unexpectedExits.length}; resident memory ${report.rssMb.join(', ')} MiB`,
    `claims of killed daemons still active: ${report.staleClaims}`,
    ...report.refusals.map((r, i) => `daemon ${i} blocks [${r.blocked.join(',')}]; recent refusals ${JSON.stringify(r.faults)}`),
    `experiments ${report.experiments}; executed duplicates ${report.executedDuplicates} (${report.experiments === 0 ? 0 : (100 * report.executedDuplicates / report.experiments).toFixed(1)} %), ${report.unexplainedDuplicates} not explained by a partition`
  ]
}

async function main (): Promise<void> {
  const flags = parseFlags('bench:chaos', 'daemons in network namespaces under a seeded nemesis; checks that nothing acknowledged is lost', {
    minutes: { default: 2, help: 'how long the nemesis runs' },
    seed: { default: Date.now() % 100_000, help: 'fixes the fault schedule: a failing seed replays' },
    nodes: { default: 5, help: 'daemons' }
  })
  process.stdout.write(`bench:chaos on ${machineLine()}\n`)
  const report = await runChaos({ seed: flags.seed as number, nodes: flags.nodes as number, faultMs: (flags.minutes as number) * 60_000, landscape: DEFAULT_LANDSCAPE, log: (line) => { if (line.startsWith('chaos:')) progress(line) } })
  for (const line of describeChaos(report)) process.stdout.write(`${line}\n`)
  for (const exit of report.unexpectedExits) process.stdout.write(`unexpected exit: ${exit}\n`)
  const ok = report.converged && report.missing.length === 0 && report.unexpectedExits.length === 0 && report.staleClaims === 0 && report.unexplainedDuplicates === 0
  process.exitCode = ok ? 0 : 1
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main()
