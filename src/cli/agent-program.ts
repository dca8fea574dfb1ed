import { InvalidArgumentError, Option } from 'commander'
import { claimCommand, claimsCommand, heartbeatCommand, hypothesisAddCommand, hypothesisListCommand, hypothesisShowCommand, publishCommand, releaseCommand } from './agent-commands.js'
import { workspaceCommand } from './workspace-command.js'
import type { Command } from 'commander'

type Print = (line: string) => void

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]
const positive = (value: string): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number of milliseconds')
  return n
}
const priority = (value: string): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 10) throw new InvalidArgumentError('expected an integer 0-10')
  return n
}

const EXIT_CODES = `
Exit codes: 0 ok, 1 failure, 2 usage, 3 duplicate, 4 daemon not running, 5 refused,
6 not found, 7 claim closed (claim again), 8 rate limited, 9 uncertain (judge the candidates,
then claim again with --distinct-from). See docs/agent-api.md.`

/**
 * The agent API's commands (issue 4 §5): one command per primitive, for agents that drive
 * their own loop. Each is a call to the running daemon's HTTP API.
 */
export function addAgentCommands (program: Command, dataDirOf: (cmd: Command) => string, print: Print): void {
  program.command('workspace')
    .description('prepare a folder to run experiments in by hand: train.py (the swarm\'s best), prepare.py, program.md and env.sh (profile, corpus, MAX_STEPS, python as the daemon runs them)')
    .argument('[dir]', 'the folder (created if missing)', 'swarmd-workspace')
    .action(async (dir: string, _opts: unknown, cmd: Command) => { await workspaceCommand(dataDirOf(cmd), dir, print) })

  program.command('claim')
    .description('claim an experiment before running it; refused (exit 3) when the swarm already runs or ran it')
    .argument('<description>', 'one line: what changes and why, e.g. "LR 0.01 -> 0.02: faster convergence"')
    .option('--code <file>', 'the edited train.py: checked by exact hash and by the constants it changes')
    .option('--parent <id>', 'the result this builds on (id or a prefix of 8+ digits), or "none" for the harness default train.py (default: the best result of this tier)')
    .option('--hypothesis <id>', 'the hypothesis this experiment tests (id or a prefix of 8+ digits)')
    .option('--ttl-ms <ms>', 'the claim expires unless heartbeated within this (default: the daemon\'s, 3x a run)', positive)
    .option('--distinct-from <id>', 'a claim or result a CLAIM_UNCERTAIN answer (exit 9) listed that you judged a different experiment (repeatable)', collect)
    .option('--json', 'print the claim (or, on exit 3, what it duplicates; on exit 9, the candidates) as JSON')
    .addHelpText('after', `
Prints the claim id alone on stdout, so \`id=$(swarmd claim "..." --code train.py)\` works.
On a duplicate (exit 3) stderr names what it repeats: layer, claim or result id, author, score.
In the grey band (exit 9) the swarm cannot tell by itself: stderr lists the experiments it may
repeat. Read them; if yours is different, run the same command with --distinct-from ID for each.
While the experiment runs, \`swarmd heartbeat ID\` every ttl/3; then \`swarmd publish\`.
${EXIT_CODES}`)
    .action(async (description: string, opts: { code?: string, parent?: string, hypothesis?: string, ttlMs?: number, distinctFrom?: string[], json?: boolean }, cmd: Command) => {
      await claimCommand(dataDirOf(cmd), {
        description,
        json: opts.json === true,
        ...(opts.code !== undefined ? { code: opts.code } : {}),
        ...(opts.parent !== undefined ? { parent: opts.parent } : {}),
        ...(opts.hypothesis !== undefined ? { hypothesis: opts.hypothesis } : {}),
        ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
        ...(opts.distinctFrom !== undefined ? { distinctFrom: opts.distinctFrom } : {})
      }, print)
    })

  program.command('heartbeat')
    .description('keep one of your claims alive for another ttl (run every ttl/3 while training)')
    .argument('<id>', 'claim id (or a prefix of 8+ digits)')
    .addHelpText('after', `
Exit 7: the claim expired, was released or has a result; claim again to run it.
${EXIT_CODES}`)
    .action(async (id: string, _opts, cmd: Command) => { await heartbeatCommand(dataDirOf(cmd), id, print) })

  program.command('release')
    .description('give one of your claims up (aborted run): the experiment becomes claimable again')
    .argument('<id>', 'claim id (or a prefix of 8+ digits)')
    .addHelpText('after', EXIT_CODES)
    .action(async (id: string, _opts, cmd: Command) => { await releaseCommand(dataDirOf(cmd), id, print) })

  program.command('claims')
    .description('claims known to the swarm, newest first, with their status (active, expired, released, finished)')
    .option('--active', 'only the claims running now')
    .option('--json', 'machine-readable output')
    .action(async (opts: { active?: boolean, json?: boolean }, cmd: Command) => {
      await claimsCommand(dataDirOf(cmd), { active: opts.active === true, json: opts.json === true }, print)
    })

  program.command('publish')
    .description('publish the result of a claimed run: metrics are parsed from the log\'s summary block')
    .requiredOption('--claim <id>', 'the claim this run was for (id or a prefix of 8+ digits)')
    .requiredOption('--log <file>', 'the run\'s full output (python train.py > run.log 2>&1)')
    .requiredOption('--code <file>', 'train.py as it ran')
    .addOption(new Option('--status <status>', 'default: crash without a summary, keep when val_bpb beats the parent, else discard').choices(['keep', 'discard', 'crash']))
    .option('--json', 'print the stored result as JSON')
    .addHelpText('after', `
Prints "RESULT_ID STATUS val_bpb X". Exit 7: the claim was released or already has a result.
${EXIT_CODES}`)
    .action(async (opts: { claim: string, log: string, code: string, status?: 'keep' | 'discard' | 'crash', json?: boolean }, cmd: Command) => {
      await publishCommand(dataDirOf(cmd), { claim: opts.claim, log: opts.log, code: opts.code, json: opts.json === true, ...(opts.status !== undefined ? { status: opts.status } : {}) }, print)
    })

  const hypothesis = program.command('hypothesis').description('ideas for the swarm to test: add, list, show')
  hypothesis.command('add')
    .description('publish a hypothesis to the swarm; refused (exit 3) when one says the same')
    .argument('<title>', 'one line')
    .requiredOption('--text <text>', 'what to try and why')
    .option('--priority <n>', '0-10, higher is more urgent', priority)
    .option('--delta <NAME=FROM:TO>', 'a constant change of train.py it suggests, e.g. LEARNING_RATE=0.01:0.02 (repeatable)', collect)
    .option('--evidence <resultId>', 'a result it rests on (repeatable)', collect)
    .option('--json', 'print the stored hypothesis as JSON')
    .addHelpText('after', `
Exit 3: a visible hypothesis already says this; exit 8: this node is over its hourly allowance.
${EXIT_CODES}`)
    .action(async (title: string, opts: { text: string, priority?: number, delta?: string[], evidence?: string[], json?: boolean }, cmd: Command) => {
      await hypothesisAddCommand(dataDirOf(cmd), {
        title,
        text: opts.text,
        json: opts.json === true,
        ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
        ...(opts.delta !== undefined ? { delta: opts.delta } : {}),
        ...(opts.evidence !== undefined ? { evidence: opts.evidence } : {})
      }, print)
    })
  const listHypotheses = async (opts: { json?: boolean }, cmd: Command): Promise<void> => { await hypothesisListCommand(dataDirOf(cmd), opts.json === true, print) }
  hypothesis.command('list')
    .description('hypotheses known to the swarm, newest first, with their state (open, claimed, tested)')
    .option('--json', 'machine-readable output')
    .action(listHypotheses)
  hypothesis.command('show')
    .description('one hypothesis with the claims testing it and their outcomes')
    .argument('<id>', 'hypothesis id (or a prefix of 8+ digits)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => { await hypothesisShowCommand(dataDirOf(cmd), id, opts.json === true, print) })
  program.command('hypotheses')
    .description('the same as `hypothesis list`')
    .option('--json', 'machine-readable output')
    .action(listHypotheses)
}
