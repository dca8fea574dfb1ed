import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { MAX_SOURCE_BYTES } from '../runner/source-policy.js'
import { diffConstants } from '../source/train-constants.js'
import { ProposalError } from './proposer.js'
import type { Proposal, ProposalContext, Proposer } from './proposer.js'

export interface CommandProposerInit {
  /** Shell command of a coding agent; runs in the prepared workspace. */
  command: string
  /** Folder with prepare.py and program.md. */
  harnessDir: string
  /** Workspaces for the agent are created under here. */
  workRoot: string
  /** The agent gets this long, in ms. Default 10 min. */
  timeoutMs?: number
}

/** Largest train.py accepted back from an agent. */

/**
 * Any coding-agent CLI as a proposer. The workspace holds the baseline train.py, the fixed
 * prepare.py, program.md and context.json (best, recent results, active claims, open
 * hypotheses). The command edits train.py and writes a one-line description to
 * description.txt (or prints it as its last line). Anything else is a failed proposal.
 */
export class CommandProposer implements Proposer {
  private count = 0

  constructor (private readonly init: CommandProposerInit) {}

  async propose (context: ProposalContext, options: { signal?: AbortSignal } = {}): Promise<Proposal> {
    const workspace = join(this.init.workRoot, `agent-${process.pid}-${++this.count}`)
    await rm(workspace, { recursive: true, force: true })
    await mkdir(workspace, { recursive: true })
    try {
      await writeFile(join(workspace, 'train.py'), context.baseline.source)
      await copyFile(join(this.init.harnessDir, 'prepare.py'), join(workspace, 'prepare.py'))
      await copyFile(join(this.init.harnessDir, 'program.md'), join(workspace, 'program.md')).catch(() => {})
      await writeFile(join(workspace, 'context.json'), JSON.stringify({
        baseline: { resultId: context.baseline.resultId, val_bpb: context.baseline.valBpb },
        recentResults: context.results.slice(-50).map((r) => ({ id: r.id, description: r.body.description, status: r.body.status, val_bpb: r.body.metrics?.val_bpb ?? null, delta: r.body.delta })),
        activeClaims: context.activeClaims,
        openHypotheses: context.hypotheses.map((h) => ({ id: h.id, title: h.body.title, text: h.body.text, suggestedDelta: h.body.suggestedDelta ?? [] }))
      }, null, 2))

      const run = await execa(this.init.command, {
        shell: true,
        cwd: workspace,
        reject: false,
        timeout: this.init.timeoutMs ?? 600_000,
        cancelSignal: options.signal,
        stdin: 'ignore',
        maxBuffer: 1024 * 1024,
        env: { SWARMD_WORKSPACE: workspace }
      })
      if (run.timedOut) throw new ProposalError('PROPOSAL_TIMEOUT', `agent command timed out after ${this.init.timeoutMs ?? 600_000} ms`)
      if (run.exitCode !== 0) throw new ProposalError('PROPOSAL_FAILED', `agent command exited with ${String(run.exitCode ?? run.signal)}: ${String(run.stderr).slice(-500)}`)

      const source = await readFile(join(workspace, 'train.py'), 'utf8').catch(() => '')
      if (source.trim() === '') throw new ProposalError('PROPOSAL_MALFORMED', 'the agent left no train.py')
      if (Buffer.byteLength(source) > MAX_SOURCE_BYTES) throw new ProposalError('PROPOSAL_MALFORMED', `the agent's train.py is over ${MAX_SOURCE_BYTES / 1024} KiB`)
      if (source === context.baseline.source) throw new ProposalError('PROPOSAL_MALFORMED', 'the agent did not change train.py')
      const fromFile = await readFile(join(workspace, 'description.txt'), 'utf8').catch(() => '')
      const lastLine = String(run.stdout).trim().split('\n').pop() ?? ''
      const description = (fromFile.trim() !== '' ? fromFile : lastLine).trim().split('\n')[0]!.trim()
      if (description === '' || description.length > 500) throw new ProposalError('PROPOSAL_MALFORMED', 'the agent gave no one-line description (description.txt or its last output line)')
      return { source, description, delta: diffConstants(context.baseline.source, source) }
    } finally {
      await rm(workspace, { recursive: true, force: true })
    }
  }
}
