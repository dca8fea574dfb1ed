import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { SWARMD_BIN, eventually } from '../helpers/daemon-process.js'
import { requirePython } from '../helpers/python.js'

interface Status { peers: unknown[], counts: { result: number } }

describe('swarmd demo', { timeout: 240_000 }, () => {
  it('starts a swarm of daemons on this machine that run real experiments and see each other; SIGTERM stops them and removes their data', async () => {
    await requirePython()
    const demo = spawn(process.execPath, [SWARMD_BIN, 'demo', '--nodes', '2', '--max-steps', '20'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    demo.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    demo.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    const ended = new Promise<number | null>((resolve) => { demo.once('exit', (code) => { resolve(code) }) })
    try {
      await eventually(() => /demo: status pages\n {2}node-0 +http:\S+\n {2}node-1 +http:\S+/.test(output), 'the status pages listed', { timeoutMs: 120_000, diagnose: () => output.slice(-3000) })
      const pages = [...output.matchAll(/^ {2}node-\d +(http:\S+)\/$/gm)].map((m) => m[1]!)
      assert.equal(pages.length, 2)
      const root = /data in (\S+)$/m.exec(output)![1]!
      const status = async (page: string): Promise<Status> => (await fetch(`${page}/api/status`)).json() as Promise<Status>
      // They found each other through the first one, and each ran experiments whose results both hold.
      await eventually(async () => {
        const all = await Promise.all(pages.map(status))
        return all.every((s) => s.peers.length >= 1 && s.counts.result >= 2)
      }, 'both daemons connected, holding results of both', { timeoutMs: 150_000, diagnose: () => output.slice(-3000) })
      assert.match(output, /^\[node-1\] research: .*: (keep|discard|crash)/m, 'the second daemon\'s own research shows, prefixed')
      demo.kill('SIGTERM')
      assert.equal(await ended, 0, output.slice(-2000))
      assert.match(output, /demo stopped\n$/)
      await assert.rejects(stat(root), 'the data dirs are gone')
    } finally {
      if (demo.exitCode === null) demo.kill('SIGKILL')
    }
  })
})
