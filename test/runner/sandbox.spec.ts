import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ExecaExperimentRunner } from '../../src/runner/experiment-runner.js'
import { findPython } from '../../src/runner/python.js'
import { detectBubblewrap } from '../../src/runner/sandbox.js'
import { systemClock } from '../../src/util/clock.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { CORPUS_DIR, HARNESS_DIR } from '../helpers/python.js'
import type { Server } from 'node:net'
import type { AddressInfo } from 'node:net'

/** Experiments under bubblewrap (installed by scripts/install-system-deps.sh). */
describe('sandboxed runs (bubblewrap)', () => {
  let runner: ExecaExperimentRunner
  let workRoot: string
  let server: Server
  let port: number
  let connections = 0
  const secret = join(homedir(), `.swarmd-sandbox-test-${process.pid}`)
  let n = 0
  const run = async (source: string, maxSteps?: number) => runner.run({ id: `sb-${++n}`, source, profile: 'cpu', ...(maxSteps !== undefined ? { maxSteps } : {}) })

  before(async () => {
    const bwrap = await detectBubblewrap()
    if (bwrap === undefined) throw new Error('bubblewrap is missing or cannot create namespaces: run `bash scripts/install-system-deps.sh --test`')
    const python = await findPython(process.env.SWARMD_PYTHON)
    if (python === undefined) throw new Error('no python with torch')
    workRoot = await tempDir()
    runner = new ExecaExperimentRunner({ python: python.path, harnessDir: HARNESS_DIR, corpusDir: CORPUS_DIR, workRoot, clock: systemClock, sandbox: { bwrap, readOnly: [...python.paths, CORPUS_DIR] } }, { killAfterMs: 120_000 })
    server = createServer((socket) => { connections++; socket.end('hello') })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
    await writeFile(secret, 'the volunteer\'s private file')
  })
  after(async () => {
    await rm(secret, { force: true })
    await rm(workRoot, { recursive: true, force: true })
    await new Promise((resolve) => server.close(resolve))
  })

  it('the real train.py still trains: torch and the corpus are reachable', async () => {
    const outcome = await run(await readFile(join(HARNESS_DIR, 'train.py'), 'utf8'), 10)
    assert.equal(outcome.status, 'ok', outcome.logTail)
  })

  it('has no network: a connection to a server on this machine fails', async () => {
    const outcome = await run(`import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=5)\nprint("connected")\n`)
    assert.equal(outcome.reason, 'exception', outcome.log)
    assert.doesNotMatch(outcome.log, /^connected$/m)
    assert.equal(connections, 0)
  })

  it('cannot see the volunteer\'s home', async () => {
    const outcome = await run(`print(open(${JSON.stringify(secret)}).read())\n`)
    assert.equal(outcome.reason, 'exception')
    assert.match(outcome.logTail, /FileNotFoundError/)
    assert.doesNotMatch(outcome.log, /private file/)
  })

  it('cannot write outside its workspace or change prepare.py', async () => {
    const outside = await run('open("/usr/local/swarmd-sandbox-test", "w").write("x")\n')
    assert.equal(outside.reason, 'exception')
    assert.match(outside.logTail, /Read-only file system|Permission denied/)
    const harness = await run('open("prepare.py", "a").write("# tampered")\n')
    assert.equal(harness.status, 'crash')
    assert.match(harness.logTail, /Read-only file system|Permission denied/)
  })
})
