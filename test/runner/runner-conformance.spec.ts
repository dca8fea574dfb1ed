import { rm, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { runExperimentRunnerTests } from '../../src/runner/runner-conformance.js'
import { ScriptedExperimentRunner } from '../../src/runner/scripted-runner.js'
import { systemClock } from '../../src/util/clock.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { requireConfinement } from '../helpers/confinement.js'
import { CORPUS_DIR, HARNESS_DIR, requirePython } from '../helpers/python.js'

const trainPy = async (): Promise<string> => await readFile(join(HARNESS_DIR, 'train.py'), 'utf8')

runExperimentRunnerTests('execa + Python', async () => {
  const workRoot = await tempDir()
  return {
    runner: new ExecaExperimentRunner({ python: await requirePython(), harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock }, { killAfterMs: 120_000 }),
    cleanup: async () => { await rm(workRoot, { recursive: true, force: true }) }
  }
}, trainPy)

runExperimentRunnerTests('execa + Python, sandboxed', async () => {
  const { python, sandbox, cgroups } = await requireConfinement()
  const workRoot = await tempDir()
  return {
    runner: new ExecaExperimentRunner({ python, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock, sandbox, cgroups }, { killAfterMs: 120_000, limits: { maxProcesses: 64, maxMemoryMb: 2048, maxFileMb: 8 } }),
    cleanup: async () => { await rm(workRoot, { recursive: true, force: true }) }
  }
}, trainPy)

runExperimentRunnerTests('scripted fake', async () => ({ runner: new ScriptedExperimentRunner(), cleanup: async () => {} }), trainPy)
