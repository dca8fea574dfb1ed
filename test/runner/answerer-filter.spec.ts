import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { execa } from 'execa'
import { bubblewrapArgs } from '../../src/runner/sandbox.js'
import { seccompFilter } from '../../src/runner/seccomp.js'
import { requireConfinement } from '../helpers/confinement.js'
import { tempDir } from '../helpers/in-process-daemon.js'
import { requirePython } from '../helpers/python.js'

/**
 * Loads a seccomp filter (read from fd 3) into a Python process, then tries what two processes
 * that share only read-only files could signal each other with: locks, inotify, page-cache
 * residency, machine-wide counters. Prints a JSON object: each call, "ok" or its errno name.
 */
const PROBE = String.raw`
import ctypes, errno, fcntl, json, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
prog = os.read(3, 1 << 16)
class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
buf = ctypes.create_string_buffer(prog, len(prog))
fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
assert libc.prctl(38, 1, None, 0, 0) == 0  # no_new_privs
assert libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) == 0, ctypes.get_errno()
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as err:
        out[name] = errno.errorcode.get(err.errno, str(err.errno))
def raw(name, nr, *args):
    r = libc.syscall(nr, *args)
    out[name] = "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
fd = os.open(sys.executable, os.O_RDONLY)
attempt("ofd lock", lambda: fcntl.fcntl(fd, 37, struct.pack("hhqqi4x", fcntl.F_RDLCK, 0, 0, 1, 0)))
attempt("posix getlk", lambda: fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 1, 0)))
attempt("flock", lambda: fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB))
attempt("fadvise", lambda: os.posix_fadvise(fd, 0, 4096, os.POSIX_FADV_DONTNEED))
attempt("preadv nowait", lambda: os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT))
attempt("plain read", lambda: os.pread(fd, 16, 0))
attempt("descriptor flags", lambda: fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC))
raw("inotify_init1", 294, 0)
word = ctypes.c_int(0)
raw("shared futex wake", 202, ctypes.byref(word), 1, 1)
raw("private futex wake", 202, ctypes.byref(word), 1 | 128, 1)
raw("shared futex wait", 202, ctypes.byref(word), 0, 1, ctypes.byref(ctypes.c_long(0)))
raw("futex_waitv", 449, ctypes.c_void_p(0), 0, 0, ctypes.c_void_p(0), 0)
raw("io_setup", 206, 1, ctypes.byref(ctypes.c_ulong(0)))
raw("getrusage", 98, 0, ctypes.create_string_buffer(256))
raw("mq_open", 240, ctypes.c_char_p(b"q"), os.O_CREAT | os.O_RDWR, 0o600, ctypes.c_void_p(0))
r, w = os.pipe()
attempt("pipe size", lambda: fcntl.fcntl(r, 1031, 1 << 20))
raw("fanotify_init", 300, 0, 0)
raw("sysinfo", 99, ctypes.create_string_buffer(256))
page = ctypes.create_string_buffer(1)
raw("mincore", 27, ctypes.c_void_p(0), ctypes.c_size_t(4096), page)
print(json.dumps(out))
`

async function probe (python: string, filter: Buffer): Promise<Record<string, string>> {
  const run = await execa(python, ['-I', '-S', '-c', PROBE], { stdio: ['ignore', 'pipe', 'pipe', filter], reject: false })
  assert.equal(run.exitCode, 0, run.stderr)
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, string>
}

/** The answerers' seccomp filter (seccomp.ts), loaded into a real process: what it shuts, what it leaves. */
describe('the answerers\' seccomp filter', { skip: process.arch !== 'x64' ? 'syscall numbers of the probe are x86-64' : false }, () => {
  it('shuts the kernel\'s shared state between processes (locks, inotify, fanotify, page cache, shared futexes, machine-wide counts); reads, descriptor flags and private futexes still work', async () => {
    const python = await requirePython()
    const answerer = await probe(python, seccompFilter('x64', { answerer: true })!)
    for (const name of ['ofd lock', 'posix getlk', 'flock', 'fadvise', 'inotify_init1', 'fanotify_init', 'sysinfo', 'mincore', 'shared futex wake', 'futex_waitv', 'io_setup', 'getrusage', 'mq_open', 'pipe size']) assert.equal(answerer[name], 'EPERM', `${name}: ${JSON.stringify(answerer)}`)
    assert.equal(answerer['private futex wake'], 'ok', 'threads still synchronise')
    assert.equal(answerer['shared futex wait'], 'EAGAIN', 'a shared wait is let through (the word differs: it returns at once)')
    // preadv2 is ENOSYS to the kernel; glibc then emulates it, and RWF_NOWAIT it cannot: EOPNOTSUPP.
    assert.ok(['ENOSYS', 'ENOTSUP', 'EOPNOTSUPP'].includes(answerer['preadv nowait']!), answerer['preadv nowait'])
    assert.equal(answerer['plain read'], 'ok')
    assert.equal(answerer['descriptor flags'], 'ok')
    // The trained run's own filter leaves them (torch.compile's caches take file locks).
    const trainer = await probe(python, seccompFilter('x64')!)
    for (const name of ['ofd lock', 'flock', 'inotify_init1', 'sysinfo']) assert.equal(trainer[name], 'ok', `${name}: ${JSON.stringify(trainer)}`)
  })
})

/** Reads each file of /proc named on the command line; prints a JSON object: its first bytes, or the error. */
const PROC_PROBE = String.raw`
import json, os, sys
found = {}
for name in sys.argv[1:]:
    try:
        with open(os.path.join("/proc", *name.split("/"))) as f:
            found[name] = "readable" if f.read(64) else "empty"
    except OSError as err:
        found[name] = err.strerror
print(json.dumps(found))
`

describe('the answerers\' /proc', () => {
  it('hides what every process on the machine moves (locks, load, CPU and memory figures, pressure, file and pty counts); the process\'s own entries stay', async () => {
    const { python, sandbox } = await requireConfinement()
    const workspace = await tempDir()
    try {
      const args = await bubblewrapArgs(sandbox, { workspace, workspaceFrom: { bind: true }, data: [], tmpfsMb: 4, maskGlobalProc: true })
      const names = ['locks', 'loadavg', 'stat', 'meminfo', 'vmstat', 'pressure/cpu', 'sys/fs/file-nr', 'sys/kernel/pty/nr', 'self/status', 'cpuinfo']
      const run = await execa(sandbox.bwrap, [...args, '--', python, '-I', '-S', '-c', PROC_PROBE, ...names], { reject: false })
      assert.equal(run.exitCode, 0, run.stderr)
      const found = JSON.parse(run.stdout.trim()) as Record<string, string>
      // The null device on a nodev mount: unreadable. /proc/sys/fs is an empty tmpfs.
      for (const name of ['locks', 'loadavg', 'stat', 'meminfo', 'vmstat', 'sys/kernel/pty/nr']) assert.equal(found[name], 'Permission denied', `${name}: ${JSON.stringify(found)}`)
      assert.ok(['Permission denied', 'No such file or directory'].includes(found['pressure/cpu']!), found['pressure/cpu'])
      assert.equal(found['sys/fs/file-nr'], 'No such file or directory')
      assert.equal(found['self/status'], 'readable')
      assert.equal(found.cpuinfo, 'readable')
    } finally {
      await rm(workspace, { recursive: true, force: true })
    }
  })
})
