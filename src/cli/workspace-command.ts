import { copyFile, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { dataPaths } from '../config/data-dir.js'
import { bestReply, statusReply } from '../http/api-contract.js'
import { DEFAULT_HARNESS_DIR, corpusDir, usesWebCorpus } from '../runner/harness.js'
import { findPython } from '../runner/python.js'
import { sha256Hex } from '../util/hash.js'
import { SwarmdError } from '../util/errors.js'
import { ApiClient } from './api-client.js'
import { CliError, EXIT } from './exit-codes.js'
import { existingFile, writeUserFile } from './user-files.js'

type Print = (line: string) => void

/** Single-quoted for a POSIX shell. */
const quoted = (value: string): string => `'${value.replaceAll('\'', '\'\\\'\'')}'`

/**
 * `swarmd workspace [DIR]`: a folder to run experiments in by hand, as `train/program.md`'s own loop
 * does: `train.py` (the swarm's best for this daemon's tier, else the harness's; one already there
 * is kept), the harness's `prepare.py` and `program.md`, and `env.sh`, which sets what the daemon
 * runs with: the profile, the corpus, `MAX_STEPS` when the daemon compares step-limited runs, and
 * the Python it found. `. ./env.sh && "$PYTHON" train.py > run.log 2>&1` then trains to the same
 * budget as the daemon's runs, so its result compares with theirs.
 */
export async function workspaceCommand (dataDir: string, dir: string, print: Print): Promise<void> {
  const client = await ApiClient.forDataDir(dataDir)
  const { research } = await client.getJson('/api/status', statusReply)
  const target = resolve(dir)
  await mkdir(target, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(EXIT.USAGE, 'CLI_FILE_UNWRITABLE', `cannot create the workspace ${target} (${err.code ?? err.message}): pass another folder`)
  })
  for (const file of ['prepare.py', 'program.md']) await copyFile(join(DEFAULT_HARNESS_DIR, file), join(target, file))

  const trainPy = join(target, 'train.py')
  let from: string
  if (await existingFile(trainPy) !== undefined) {
    from = 'kept the train.py already there (`swarmd best --pull train.py` replaces it with the best)'
  } else {
    const { best } = await client.getJson('/api/best', bestReply)
    if (best === null) {
      await copyFile(join(DEFAULT_HARNESS_DIR, 'train.py'), trainPy)
      from = 'train.py: the harness\'s own (no trusted result on this tier yet)'
    } else {
      const bytes = await client.getBytes(`/api/blobs/${best.codeHash}`)
      if (sha256Hex(bytes) !== best.codeHash) throw new SwarmdError('BLOB_HASH_MISMATCH', `the source of ${best.id} does not match its hash; not written`)
      await writeUserFile(trainPy, bytes, 'the best train.py to')
      from = `train.py: the best on ${best.hardware.tier}, val_bpb ${best.metrics!.val_bpb.toFixed(6)} (result ${best.id.slice(0, 12)})`
    }
  }

  const env: Array<[string, string]> = [['SWARMD_PROFILE', research.profile], ['SWARMD_SOTU_DIR', corpusDir()]]
  if (usesWebCorpus(research.profile)) env.push(['SWARMD_WEB_CORPUS_DIR', dataPaths(resolve(dataDir)).webCorpus])
  if (research.maxSteps !== null) env.push(['MAX_STEPS', String(research.maxSteps)])
  // The daemon's own when it runs experiments, else the first with torch as the daemon would look for it.
  const python = research.python?.path ?? (await findPython(process.env.SWARMD_PYTHON))?.path
  env.push(['PYTHON', python ?? 'python3'])
  const script = [
    '# Written by `swarmd workspace`: what the daemon\'s runs train with. Source it: . ./env.sh',
    ...env.map(([key, value]) => `export ${key}=${quoted(value)}`),
    // The time budget when the daemon has no step limit: a MAX_STEPS left over from elsewhere would make the run incomparable.
    ...(research.maxSteps === null ? ['unset MAX_STEPS'] : []),
    ''
  ].join('\n')
  await writeUserFile(join(target, 'env.sh'), script, 'the environment to')

  print(`workspace ${target}`)
  print(`  ${from}`)
  print(`  prepare.py, program.md: the harness's (profile ${research.profile}${research.maxSteps !== null ? `, ${research.maxSteps} steps a run` : ', the time budget'})`)
  print('  env.sh: the profile, the corpus' + (research.maxSteps !== null ? ', MAX_STEPS' : '') + ' and the Python the daemon runs with')
  if (python === undefined) print('  warning: no Python with torch found here; env.sh says python3 (`swarmd doctor` says what to install, SWARMD_PYTHON names one)')
  print(`next: cd ${quoted(target)} && . ./env.sh, edit train.py, \`swarmd claim "what and why" --code train.py\`, then "$PYTHON" train.py > run.log 2>&1 and \`swarmd publish --claim ID --log run.log --code train.py\` (train/program.md)`)
}
