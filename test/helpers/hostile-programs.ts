/**
 * Hostile train.py programs for the sandbox's attack suite (test/runner/sandbox-attacks.spec.ts)
 * and its bench (bench/sandbox.ts). Each prints a line ending in a marker only when the attack
 * got through.
 */
/**
 * Wrap a payload so the source check (an AST scan for reaches into the harness) does not see it:
 * the check is no security boundary, the sandbox is, and an attacker wraps everything like this.
 */
export function evadeSourceCheck (payload: string): string {
  const encoded = Buffer.from(payload).toString('base64')
  return `import base64, runpy\nopen("/tmp/p.py", "w").write(base64.b64decode("${encoded}").decode())\nrunpy.run_path("/tmp/p.py", run_name="__main__")\n`
}

/** A payload that tries `name: expression` in turn and prints `name ALLOWED value` or `name refused Error`. */
export function probe (checks: Record<string, string>): string {
  const lines = ['import ctypes, os, socket', 'libc = ctypes.CDLL(None, use_errno=True)', 'def t(name, f):', '    try:', '        print(name, "ALLOWED", f())', '    except Exception as e:', '        print(name, "refused", type(e).__name__)']
  for (const [name, expression] of Object.entries(checks)) lines.push(`t(${JSON.stringify(name)}, lambda: ${expression})`)
  return evadeSourceCheck(lines.join('\n') + '\n')
}

export const HOSTILE = {
  /** Print the environment and every process's environ under /proc (named around the source check). */
  printEnvironment: 'import os\nfor k, v in sorted(os.environ.items()):\n    print(k, v)\nproc = "/pro" + "c"\nfor pid in os.listdir(proc):\n    if pid.isdigit():\n        try:\n            print(pid, open(proc + "/" + pid + "/environ", "rb").read())\n        except OSError as e:\n            print(pid, type(e).__name__)\nprint("done")\n',
  /** Read each file and print its text, or the error's name. */
  readFiles: (paths: string[]): string => `for p in ${JSON.stringify(paths)}:\n    try:\n        print(p, open(p).read())\n    except Exception as e:\n        print(p, type(e).__name__)\n`,
  /** Connect to a Unix socket and print what it sends. */
  connectUnix: (path: string): string => `import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect(${JSON.stringify(path)})\nprint(s.recv(100))\n`,
  /** One MAP_SHARED mapping of 1.5 GiB, touched page by page (RLIMIT_DATA does not count it). */
  sharedMemory: 'import mmap\nm = mmap.mmap(-1, 1536 * 2**20, flags=mmap.MAP_SHARED)\nfor i in range(0, len(m), 4096):\n    m[i] = 1\nprint("mapped 1.5 GiB")\n',
  /** Three processes of 600 MiB each, each under a 1 GiB per-process limit. */
  manyProcessesMemory: 'import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        a = bytearray(600 * 2**20)\n        for i in range(0, len(a), 4096):\n            a[i] = 1\n        time.sleep(30)\n        os._exit(0)\nfor _ in range(3):\n    _, status = os.wait()\n    if status != 0:\n        raise SystemExit("a child was killed")\nprint("held 1.8 GiB")\n',
  /** Up to 4 GiB in 4 MiB files in `dir` (relative: the workspace). */
  fill: (dir: string): string => `import os\nfor i in range(1000):\n    with open(os.path.join(${JSON.stringify(dir)}, "fill-%d" % i), "wb") as f:\n        f.write(bytes(4 * 2**20))\nprint("filled 4 GiB")\n`,
  /** A fork bomb whose children each leave the session and process group first. */
  /** One line of 64 MiB without a newline, then a newline: the runner must not rescan it per chunk. */
  hugeLine: 'import os\nbuf = b"A" * (1 << 20)\nfor _ in range(64):\n    os.write(1, buf)\nos.write(1, b"\\nprinted 64 MiB\\n")\n',
  /** Hold 40 threads for `seconds`, then report. */
  // Only in the trained run: the evaluation's answerers (train.py again, in the same cgroup) would hold as many.
  holdThreads: (seconds: number): string => `import threading, time\nev = threading.Event()\nts = [threading.Thread(target=ev.wait) for _ in range(40)]\nfor t in ts:\n    t.start()\ntime.sleep(${seconds})\nev.set()\nprint("held 40 threads")\n`,
  setsidForkBomb: 'import os, time\nwhile True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n            while True:\n                try:\n                    os.fork()\n                except OSError:\n                    time.sleep(0.01)\n    except OSError:\n        time.sleep(0.01)\n'
} as const
