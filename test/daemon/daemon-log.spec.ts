import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DaemonLog, humanLine, humanLogLine, stripControl } from '../../src/daemon/daemon-log.js'
import { logsCommand } from '../../src/cli/logs-command.js'
import { dataPaths } from '../../src/config/data-dir.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { waitFor } from '../helpers/wait.js'

const FORGED = 'research: "x\n2026-01-01T00:00:00.000Z INFO  ready http://evil.example\u001b[2J\u202e" duplicates a claim'

describe('the daemon log', () => {
  const dirs: string[] = []
  const dataDir = async (): Promise<string> => {
    const dir = await tempDir('swarmd-log-')
    dirs.push(dir)
    return dir
  }
  after(async () => { await Promise.all(dirs.map(async (d) => rm(d, { recursive: true, force: true }))) })

  it('writes one JSON entry per line, with level, time and message, and echoes the plain message when not on a TTY', async () => {
    const paths = dataPaths(await dataDir())
    const echoed: string[] = []
    const log = new DaemonLog({ file: paths.logFile, echo: (l) => echoed.push(l), human: false })
    log.log('ready http://127.0.0.1:1234')
    log.log('warning: bubblewrap is not available')
    log.record('error', 'start failed: no')
    log.close()
    const lines = (await readFile(paths.logFile, 'utf8')).split('\n')
    assert.equal(lines.pop(), '')
    const entries = lines.map((l) => JSON.parse(l) as { level: string, time: string, msg: string, pid: number })
    assert.deepEqual(entries.map((e) => [e.level, e.msg]), [['info', 'ready http://127.0.0.1:1234'], ['warn', 'warning: bubblewrap is not available'], ['error', 'start failed: no']])
    assert.ok(entries.every((e) => !Number.isNaN(Date.parse(e.time)) && e.pid === process.pid))
    // The lines scripts wait for (`ready <api>`) are unchanged; `record` writes the file only.
    assert.deepEqual(echoed, ['ready http://127.0.0.1:1234', 'warning: bubblewrap is not available'])
    assert.equal((await stat(paths.logFile)).mode & 0o777, 0o600)
  })

  it('echoes human lines on a TTY: time, level, message', async () => {
    const echoed: string[] = []
    const log = new DaemonLog({ file: dataPaths(await dataDir()).logFile, echo: (l) => echoed.push(l), human: true })
    log.log('warning: no GPU')
    log.close()
    assert.match(echoed[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  warning: no GPU$/)
  })

  it('lets no message a peer shaped forge a line: JSON escapes it in the file, the printers escape control characters', async () => {
    const paths = dataPaths(await dataDir())
    const echoed: string[] = []
    const log = new DaemonLog({ file: paths.logFile, echo: (l) => echoed.push(l), human: false })
    log.log(FORGED)
    log.close()
    const text = await readFile(paths.logFile, 'utf8')
    assert.equal(text.split('\n').length, 2, 'one entry, one line')
    assert.equal((JSON.parse(text) as { msg: string }).msg, FORGED)
    for (const printed of [echoed[0]!, humanLogLine(text.trimEnd()), humanLine({ time: 0, level: 30, msg: FORGED }), stripControl(text.trimEnd())]) {
      assert.ok(!/[\n\r\u001b\u202e]/.test(printed), `no control character in ${JSON.stringify(printed)}`)
    }
    assert.match(humanLogLine(text.trimEnd()), /INFO {2}research: "x\\u000a2026-01-01T00:00:00\.000Z INFO {2}ready http:\/\/evil\.example\\u001b\[2J\\u202e" duplicates a claim$/)
    assert.equal(humanLogLine('{"cut short'), '{"cut short')
  })

  it('rotates at its size cap, keeping one old file, so logs take at most twice the cap', async () => {
    const paths = dataPaths(await dataDir())
    const log = new DaemonLog({ file: paths.logFile, echo: () => {}, human: false, maxBytes: 4096 })
    for (let i = 0; i < 500; i++) log.log(`line ${i} ${'x'.repeat(80)}`)
    log.close()
    const current = await readFile(paths.logFile, 'utf8')
    const old = await readFile(`${paths.logFile}.1`, 'utf8')
    assert.ok(Buffer.byteLength(current) < 4096 && Buffer.byteLength(old) < 4096 + 200, `${Buffer.byteLength(current)} and ${Buffer.byteLength(old)} bytes`)
    const last = current.trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)
    assert.match(last.at(-1)!, /^line 499 /)
    const before = old.trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)
    // No entry lost or cut at the seam between the two files.
    assert.equal(Number(/^line (\d+)/.exec(last[0]!)![1]), Number(/^line (\d+)/.exec(before.at(-1)!)![1]) + 1)
  })

  it('a log file it cannot write (here: its folder is a file) turns file logging off with one warning; the echo goes on', async () => {
    const dir = await dataDir()
    await writeFile(join(dir, 'logs'), 'not a folder')
    const echoed: string[] = []
    const log = new DaemonLog({ file: dataPaths(dir).logFile, echo: (l) => echoed.push(l), human: false })
    log.log('first')
    log.log('second')
    log.close()
    assert.equal(echoed.length, 3, echoed.join('\n'))
    assert.match(echoed[0]!, /^warning: cannot write the log file .*swarmd\.log/)
    assert.deepEqual(echoed.slice(1), ['first', 'second'])
  })

  it('swarmd logs --follow prints lines written after it started, across a rotation, and waits for a file not there yet', async () => {
    const dir = await dataDir()
    const paths = dataPaths(dir)
    const printed: string[] = []
    const notes: string[] = []
    const stop = new AbortController()
    const following = logsCommand(dir, { follow: true, json: false, signal: stop.signal, pollMs: 10 }, (l) => printed.push(l), (l) => notes.push(l))
    await waitFor(() => notes.length === 1, { what: 'a note that it waits for the file' })
    assert.ok(notes[0]!.includes(paths.logFile))
    const log = new DaemonLog({ file: paths.logFile, echo: () => {}, human: false, maxBytes: 2048 })
    try {
      for (let i = 0; i < 100; i++) {
        log.log(`entry ${i} ${'y'.repeat(60)}`)
        // Every ~1 KiB (half the cap: at most one rotation between) the follower catches up, as it
        // does at a daemon's pace; a file rotated twice between two looks is missed, as with tail -F.
        if (i % 7 === 6) await waitFor(() => printed.length === i + 1, { what: () => `the follower to print entry ${i}; printed ${printed.length}` })
      }
      await waitFor(() => printed.some((l) => l.includes('entry 99 ')), { what: () => `the last entry; printed ${printed.length}` })
      const seen = printed.map((l) => Number(/ entry (\d+) /.exec(l)?.[1]))
      assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i), 'every entry once, in order')
      assert.ok(printed.every((l) => /^\S+Z INFO {2}entry \d+ y+$/.test(l)), printed[0])
      await stat(`${paths.logFile}.1`)
    } finally {
      log.close()
      stop.abort()
      await following
    }
  })

  it('swarmd logs without a log file says where it looked and how to start the daemon', async () => {
    const dir = await dataDir()
    await assert.rejects(logsCommand(dir, { follow: false, json: false }, () => {}), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'LOG_NOT_FOUND')
      assert.ok(err.message.includes(join(dir, 'logs', 'swarmd.log')) && err.message.includes('swarmd start'))
      return true
    })
  })
})
