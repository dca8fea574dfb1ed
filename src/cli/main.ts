import '../util/polyfill.js'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { resolveDataDir, usableDataDir } from '../config/data-dir.js'
import { isSwarmdError } from '../util/errors.js'
import { addAgentCommands } from './agent-program.js'
import { ApiError } from './api-client.js'
import { bestCommand, blobAddCommand, blobGetCommand, configCommand, connectCommand, exportCommand, initCommand, peersCommand, resultsCommand, startCommand, statusCommand } from './commands.js'
import { CliError, EXIT, errorLine, exitCodeFor } from './exit-codes.js'
import { logsCommand } from './logs-command.js'
import { addSettingOptions, settingFlags } from './setting-options.js'
import type { StartFlags } from './commands.js'

const print = (line: string): void => { process.stdout.write(line + '\n') }
// Output piped into `head` (or anything that stops reading) ends the command quietly, not with a trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(EXIT.OK) })
const printErr = (line: string): void => { process.stderr.write(line + '\n') }

const program = new Command('swarmd')
  .description('autoresearch at home, peer to peer: a research swarm of volunteer GPUs')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('--data-dir <dir>', 'identity, config and state live here (default: $SWARMD_DATA_DIR or $XDG_DATA_HOME/swarmd)')
  // Commander's errors come back as exceptions, so bad usage exits 2 like every other usage error.
  .exitOverride()

const dataDirOf = (cmd: Command): string => usableDataDir(resolveDataDir(cmd.optsWithGlobals<{ dataDir?: string }>().dataDir))

/** The version in package.json, at the package root. */
function positiveInt (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number')
  return n
}

function packageVersion (): string {
  const json = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }
  return json.version
}

program.command('init')
  .description('create the identity, API token and a starter config.json in the data dir')
  .action(async (_opts, cmd: Command) => { await initCommand(dataDirOf(cmd), print) })

addSettingOptions(program.command('start')
  .description('run the daemon: join the swarm, replicate records, serve the status page (Ctrl-C stops it). Every setting is a flag, an env variable and a config.json key; flags win over env, env over config.json'))
  .action(async (_opts, cmd: Command) => {
    const flags: StartFlags = settingFlags(cmd)
    const { daemon, log } = await startCommand(dataDirOf(cmd), flags, print, { human: process.stdout.isTTY })
    process.on('unhandledRejection', (err) => { log.record('warn', `unhandled failure (daemon keeps running): ${String(err)}`); printErr(`warning: unhandled failure (daemon keeps running): ${String(err)}`) })
    let signals = 0
    const shutdown = (signal: string): void => {
      if (++signals > 1) process.exit(EXIT.FAILURE)
      log.log(`${signal}: stopping…`)
      daemon.stop().then(() => { log.log('stopped'); log.close(); process.exit(EXIT.OK) }, (err: unknown) => { log.record('error', `stop failed: ${String(err)}`); printErr(`stop failed: ${String(err)}`); process.exit(EXIT.FAILURE) })
    }
    process.on('SIGINT', () => { shutdown('SIGINT') })
    process.on('SIGTERM', () => { shutdown('SIGTERM') })
  })

program.command('logs')
  .description('print the daemon\'s log (<data dir>/logs/swarmd.log): time, level and message per line')
  .option('-f, --follow', 'keep printing new lines as the daemon writes them (across log rotation) until Ctrl-C')
  .option('-n, --lines <n>', 'only the last n lines already written', positiveInt)
  .option('--json', 'the raw JSON lines')
  .action(async (opts: { follow?: boolean, lines?: number, json?: boolean }, cmd: Command) => {
    await logsCommand(dataDirOf(cmd), { follow: opts.follow === true, json: opts.json === true, ...(opts.lines !== undefined ? { lines: opts.lines } : {}) }, print, printErr)
  })

program.command('demo')
  .description('a swarm of N daemons on this machine, with real CPU experiments and a step limit: prints each status page (Ctrl-C stops them and removes their data)')
  .option('--nodes <n>', 'how many daemons (1-16)', positiveInt, 3)
  .option('--max-steps <n>', 'steps each run trains for', positiveInt, 100)
  .option('--keep', 'keep the daemons\' data dirs when the demo stops')
  .action(async (opts: { nodes: number, maxSteps: number, keep?: boolean }) => {
    const { demoCommand } = await import('./demo-command.js')
    await demoCommand({ nodes: opts.nodes, maxSteps: opts.maxSteps, keep: opts.keep === true }, print)
  })

program.command('config')
  .description('the configuration `swarmd start` would run with here (defaults < config.json < SWARMD_* variables), by area')
  .option('--table', 'every setting as a markdown table: area, key, default, variable, flag')
  .action(async (opts: { table?: boolean }, cmd: Command) => { await configCommand(dataDirOf(cmd), { table: opts.table === true }, print) })

program.command('doctor')
  .description('check what this machine has for running experiments (python, torch, GPUs, corpus, sandbox) and what to do about the rest')
  .option('--python <path>', 'check this interpreter instead of detecting one')
  .option('--json', 'machine-readable output')
  .action(async (opts: { python?: string, json?: boolean }, cmd: Command) => {
    const { doctorFailed, runDoctor } = await import('./doctor.js')
    const checks = await runDoctor({ dataDir: dataDirOf(cmd), ...(opts.python !== undefined ? { python: opts.python } : {}) })
    if (opts.json === true) print(JSON.stringify(checks, null, 2))
    else {
      for (const c of checks) print(`${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'} ${c.name.padEnd(22)} ${c.found}${!c.ok && c.fix !== undefined ? `\n     → ${c.fix}` : ''}`)
      print(doctorFailed(checks) ? 'this machine cannot run experiments yet (see FAIL above); `swarmd start --agent none` still coordinates' : 'ready: `swarmd start`')
    }
    if (doctorFailed(checks)) process.exitCode = EXIT.FAILURE
  })

const corpus = program.command('corpus').description('the gpu profile\'s training and validation text')
corpus.command('fetch')
  .description('download the gpu profile\'s corpus ahead of time, resumably, verifying each shard against the sha256 its host publishes, and flatten it for the harness')
  .option('--corpus <dir>', 'take it from this folder instead (the same parquet shards, or train.txt and val.txt): for a machine without internet')
  .option('--corpus-manifest <file>', 'a shard list {"shards": [{"path", "size", "sha256"}]} to use instead of the host\'s listing')
  .option('--json', 'machine-readable output')
  .action(async (opts: { corpus?: string, corpusManifest?: string, json?: boolean }, cmd: Command) => {
    const { corpusFetchCommand } = await import('./corpus-command.js')
    await corpusFetchCommand(dataDirOf(cmd), { json: opts.json === true, ...(opts.corpus !== undefined ? { corpus: opts.corpus } : {}), ...(opts.corpusManifest !== undefined ? { manifest: opts.corpusManifest } : {}) }, print)
  })

program.command('status')
  .description('identity, listen addresses, peers and record counts of the running daemon')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }, cmd: Command) => { await statusCommand(dataDirOf(cmd), opts.json === true, print) })

program.command('peers')
  .description('peers the daemon is connected to')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }, cmd: Command) => { await peersCommand(dataDirOf(cmd), opts.json === true, print) })

program.command('connect')
  .description('dial a peer now, e.g. after a network partition heals')
  .argument('<multiaddr>', '/ip4/…/tcp/…/p2p/<peerId>')
  .action(async (addr: string, _opts, cmd: Command) => { await connectCommand(dataDirOf(cmd), addr, print) })

addAgentCommands(program, dataDirOf, print)

program.command('results')
  .description('experiment results known to the swarm, newest first, each with the result it built on')
  .option('--frontier', 'only the lineage\'s leaves: results nobody has built on yet')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean, frontier?: boolean }, cmd: Command) => { await resultsCommand(dataDirOf(cmd), { json: opts.json === true, frontier: opts.frontier === true }, print) })

program.command('best')
  .description('the best trusted result of a hardware tier (default: this daemon\'s tier)')
  .addOption(new Option('--tier <tier>', 'hardware tier').choices(['cpu', 'vram16', 'vram24', 'vram48', 'vram48plus']))
  .option('--pull <file>', 'write its train.py (fetched by hash and verified) to this file')
  .option('--force', 'with --pull: overwrite the file even if it holds edits no result has')
  .option('--json', 'machine-readable output')
  .action(async (opts: { tier?: string, pull?: string, force?: boolean, json?: boolean }, cmd: Command) => {
    await bestCommand(dataDirOf(cmd), { json: opts.json === true, force: opts.force === true, ...(opts.tier !== undefined ? { tier: opts.tier } : {}), ...(opts.pull !== undefined ? { pull: opts.pull } : {}) }, print)
  })

program.command('export')
  .description('write the results as autoresearch\'s results.tsv (commit, val_bpb, memory_gb, status, description), then each row\'s tier and budget')
  .argument('[file]', 'output file (default: stdout)')
  .addOption(new Option('--format <format>', 'output format').choices(['tsv']).default('tsv'))
  .option('--git <dir>', 'bring the lineage repository in DIR up to date first (as `swarmd git DIR`) and fill the commit column with its commit ids, leaving out results it cannot hold yet; without it, the column holds the first 7 hex digits of each source\'s sha256')
  .action(async (file: string | undefined, opts: { git?: string }, cmd: Command) => {
    await exportCommand(dataDirOf(cmd), file, opts.git !== undefined ? { git: opts.git } : {}, print, printErr)
  })

program.command('git')
  .description('the swarm\'s lineage as an ordinary git repository, brought up to date incrementally: a commit per result (its train.py; message: description, val_bpb, status, budget, tier, result id, author), parents following the lineage from a root commit of the harness\'s default train.py, refs/results/<result id> per result, and a branch per tier at its best trusted result (HEAD on this daemon\'s tier). Commit ids are the same on every machine given the same results. A result whose parent or source has not reached this daemon yet waits, with everything built on it, for a later run. Needs the git binary')
  .argument('[dir]', 'the repository: created when missing or empty; a non-empty directory swarmd did not make is refused', 'swarmd-lineage')
  .action(async (dir: string, _opts, cmd: Command) => {
    const { gitCommand } = await import('./git-command.js')
    await gitCommand(dataDirOf(cmd), dir, print, printErr)
  })

const blob = program.command('blob').description('content-addressed files shared by hash')
blob.command('add')
  .description('store a file and announce it; prints its sha256')
  .argument('<file>')
  .action(async (file: string, _opts, cmd: Command) => { await blobAddCommand(dataDirOf(cmd), file, print) })
blob.command('get')
  .description('fetch a blob by hash from this daemon or any peer, verified')
  .argument('<hash>')
  .option('-o, --out <file>', 'write to a file instead of stdout')
  .action(async (hash: string, opts: { out?: string }, cmd: Command) => {
    await blobGetCommand(dataDirOf(cmd), hash, opts.out, (bytes) => { process.stdout.write(bytes) })
  })

// A usage error is one line naming the command's --help, not the whole help text.
for (const cmd of commandTree(program)) {
  const path = commandPath(cmd)
  cmd.showHelpAfterError(false).configureOutput({
    outputError: (text, write) => { write(`swarmd: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}; see \`${path} --help\`\n`) }
  })
}

function commandTree (cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(commandTree)]
}

function commandPath (cmd: Command): string {
  return cmd.parent === null ? cmd.name() : `${commandPath(cmd.parent)} ${cmd.name()}`
}

/** The exit code for a failure, after printing its one-line message to stderr. */
function report (err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; a usage error was already printed by outputError.
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
  }
  if (err instanceof CliError) {
    printErr(errorLine(err.message, err.code))
    return err.exit
  }
  if (err instanceof ApiError) {
    printErr(errorLine(err.message, err.code))
    return exitCodeFor(err.code, err.status)
  }
  if (isSwarmdError(err)) {
    printErr(errorLine(err.message, err.code))
    return exitCodeFor(err.code)
  }
  printErr(`swarmd: ${err instanceof Error ? err.message : String(err)}`)
  return EXIT.FAILURE
}

try {
  await program.parseAsync(process.argv)
} catch (err) {
  process.exit(report(err))
}
