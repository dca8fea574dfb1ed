/**
 * The seccomp filter of a sandboxed run (bubblewrap's `--seccomp FD`): a classic BPF program
 * that refuses what no training run needs and what reaches past the sandbox's namespaces.
 * - Sockets of families other than Unix, IPv4, IPv6 and route netlink: AF_VSOCK is not isolated by a
 *   network namespace (a run reached the hypervisor's vsock ports, found by the red team), and
 *   AF_ALG, AF_PACKET and the rest are kernel attack surface. EAFNOSUPPORT.
 * - The kernel keyrings (add_key, request_key, keyctl): a key added under the run's uid
 *   outlived the run and was read by the next one (found by the red team). EPERM.
 * - New namespaces (unshare, setns, clone with a CLONE_NEW* flag) and clone3, whose flags sit in
 *   memory a filter cannot read (ENOSYS: glibc falls back to clone). EPERM.
 * - bpf, userfaultfd, perf_event_open, io_uring, ptrace and process_vm_*, mounts, module and
 *   kexec calls: kernel attack surface a training run never uses. EPERM.
 * - On x86-64, the x32 ABI and 32-bit calls (`int 0x80`), which a filter keyed on x86-64 numbers
 *   would not see. ENOSYS.
 * - For an evaluation's answerer (`{ answerer: true }`), also what lets two processes that share no
 *   writable file still signal each other through the kernel (found by the red team: a look-ahead
 *   model whose answerers talked through locks on the read-only train.py passed the check): file
 *   locks and leases (`flock`, `fcntl` other than descriptor flags, duplication and pipe size),
 *   inotify and fanotify marks on shared files, page-cache residency (`mincore`, `fadvise64`,
 *   `readahead`, `preadv2`/`pwritev2` and their RWF_NOWAIT, `cachestat`, `getrusage`'s major
 *   faults), waking or requeueing a futex that is not process-private (one on a mapping of a shared
 *   read-only file is keyed by the file: a second red team signalled through them; waiting stays,
 *   as glibc joins threads so) and the futex2 calls, Linux AIO (a machine-wide count), `sysinfo`
 *   (global free memory and process count), and what counts against the user's limits across
 *   namespaces (`F_SETPIPE_SZ`, `mq_open`, queued real-time signals). EPERM (ENOSYS for the `*v2`
 *   calls: libc falls back).
 * Modelled on Docker's default profile, narrower where training needs less.
 */

const BPF_LD_W_ABS = 0x20
const BPF_JEQ_K = 0x15
const BPF_JGE_K = 0x35
const BPF_JSET_K = 0x45
const BPF_RET_K = 0x06
const BPF_ALU_AND_K = 0x54

const RET_ALLOW = 0x7fff0000
const retErrno = (errno: number): number => 0x00050000 | errno
const EPERM = 1
const EAFNOSUPPORT = 97
const ENOSYS = 38

/** Offsets in `struct seccomp_data`: nr, arch, then the arguments (low 32 bits first, little-endian). */
const DATA_NR = 0
const DATA_ARCH = 4
const DATA_ARG0 = 16
const DATA_ARG1 = 24
const DATA_ARG2 = 32

/** Socket families a run may open: AF_UNIX, AF_INET, AF_INET6 (inside its empty network namespace). */
const ALLOWED_FAMILIES = [1, 2, 10]
/** AF_NETLINK, for NETLINK_ROUTE only (glibc's getaddrinfo asks it for addresses): the uevent family shows host hotplug events. */
const AF_NETLINK = 16
const NETLINK_ROUTE = 0
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
const CLONE_NEW_FLAGS = 0x7e020080

interface ArchTable {
  audit: number
  fcntl: number
  futex: number
  /** What an answerer may not call besides `denied` (EPERM), and the `*v2` vector calls (ENOSYS). */
  answererDenied: number[]
  answererNoSys: number[]
  /** x86-64 only: syscall numbers at or above this are the x32 ABI. */
  x32Bit?: number
  socket: number
  clone: number
  clone3: number
  denied: number[]
}

const ARCHES: Record<string, ArchTable> = {
  x64: {
    audit: 0xc000003e,
    x32Bit: 0x40000000,
    socket: 41,
    clone: 56,
    clone3: 435,
    fcntl: 72,
    futex: 202,
    // flock, inotify_init, inotify_add_watch, inotify_init1, fanotify_init, fanotify_mark, mincore, fadvise64, readahead, cachestat, sysinfo,
    // futex_waitv, futex_wake, futex_wait, futex_requeue (futex2: flags the filter cannot read), the io_* calls (a machine-wide
    // count in /proc), getrusage (major faults: page-cache residency), mq_open and rt_(tg)sigqueueinfo (per-user counts)
    answererDenied: [73, 253, 254, 294, 300, 301, 27, 221, 187, 451, 99, 449, 454, 455, 456, 206, 207, 208, 209, 210, 333, 98, 240, 129, 297],
    // preadv2, pwritev2
    answererNoSys: [327, 328],
    // unshare, setns, add_key, request_key, keyctl, bpf, userfaultfd, perf_event_open,
    // io_uring_setup/enter/register, ptrace, process_vm_readv/writev, mount, umount2,
    // pivot_root, open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, kexec_load,
    // kexec_file_load, init_module, finit_module, delete_module, name_to_handle_at, open_by_handle_at
    denied: [272, 308, 248, 249, 250, 321, 323, 298, 425, 426, 427, 101, 310, 311, 165, 166, 155, 428, 429, 430, 431, 432, 433, 246, 320, 175, 313, 176, 303, 304]
  },
  arm64: {
    audit: 0xc00000b7,
    socket: 198,
    clone: 220,
    clone3: 435,
    fcntl: 25,
    futex: 98,
    // flock, inotify_init1, inotify_add_watch, fanotify_init, fanotify_mark, mincore, fadvise64, readahead, cachestat, sysinfo,
    // futex_waitv, futex_wake, futex_wait, futex_requeue, the io_* calls, getrusage, mq_open, rt_(tg)sigqueueinfo
    answererDenied: [32, 26, 27, 262, 263, 232, 223, 213, 451, 179, 449, 454, 455, 456, 0, 1, 2, 3, 4, 292, 165, 180, 138, 240],
    // preadv2, pwritev2
    answererNoSys: [286, 287],
    denied: [97, 268, 217, 218, 219, 280, 282, 241, 425, 426, 427, 117, 270, 271, 40, 39, 41, 428, 429, 430, 431, 432, 433, 104, 294, 105, 273, 106, 264, 265]
  }
}

type Insn = [code: number, jt: number, jf: number, k: number]

/** `if (A == value) { block }`, where the block ends in a return. */
function ifEqual (value: number, block: Insn[]): Insn[] {
  if (block.length > 255) throw new Error('seccomp block too long')
  return [[BPF_JEQ_K, 0, block.length, value], ...block]
}

/** fcntl commands an answerer may use: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, F_GETPIPE_SZ (not F_SETPIPE_SZ: a per-user limit others see). */
const ANSWERER_FCNTL = [0, 1, 2, 3, 4, 1030, 1032]
/** FUTEX_PRIVATE_FLAG: a futex without it on a file mapping is keyed by the file, shared with every process that maps it (found by the red team). */
const FUTEX_PRIVATE_FLAG = 128
const FUTEX_CMD_MASK = 127
const FUTEX_WAIT = 0
const FUTEX_WAIT_BITSET = 9

/** The filter for `arch` (Node's `process.arch`), or undefined where swarmd has no syscall table. */
export function seccompFilter (arch: string = process.arch, opts: { answerer?: boolean } = {}): Buffer | undefined {
  const table = ARCHES[arch]
  if (table === undefined) return undefined
  const program: Insn[] = [
    [BPF_LD_W_ABS, 0, 0, DATA_ARCH],
    [BPF_JEQ_K, 1, 0, table.audit],
    [BPF_RET_K, 0, 0, retErrno(ENOSYS)],
    [BPF_LD_W_ABS, 0, 0, DATA_NR]
  ]
  if (table.x32Bit !== undefined) program.push([BPF_JGE_K, 0, 1, table.x32Bit], [BPF_RET_K, 0, 0, retErrno(ENOSYS)])
  program.push(...ifEqual(table.clone3, [[BPF_RET_K, 0, 0, retErrno(ENOSYS)]]))
  for (const nr of table.denied) program.push(...ifEqual(nr, [[BPF_RET_K, 0, 0, retErrno(EPERM)]]))
  if (opts.answerer === true) {
    for (const nr of table.answererDenied) program.push(...ifEqual(nr, [[BPF_RET_K, 0, 0, retErrno(EPERM)]]))
    for (const nr of table.answererNoSys) program.push(...ifEqual(nr, [[BPF_RET_K, 0, 0, retErrno(ENOSYS)]]))
    const commands: Insn[] = [[BPF_LD_W_ABS, 0, 0, DATA_ARG1]]
    for (const cmd of ANSWERER_FCNTL) commands.push([BPF_JEQ_K, 0, 1, cmd], [BPF_RET_K, 0, 0, RET_ALLOW])
    commands.push([BPF_RET_K, 0, 0, retErrno(EPERM)])
    program.push(...ifEqual(table.fcntl, commands))
    // A shared futex may be waited on (glibc joins a thread so; only the kernel wakes it), never woken or requeued.
    program.push(...ifEqual(table.futex, [
      [BPF_LD_W_ABS, 0, 0, DATA_ARG1],
      [BPF_JSET_K, 0, 1, FUTEX_PRIVATE_FLAG],
      [BPF_RET_K, 0, 0, RET_ALLOW],
      [BPF_ALU_AND_K, 0, 0, FUTEX_CMD_MASK],
      [BPF_JEQ_K, 0, 1, FUTEX_WAIT],
      [BPF_RET_K, 0, 0, RET_ALLOW],
      [BPF_JEQ_K, 0, 1, FUTEX_WAIT_BITSET],
      [BPF_RET_K, 0, 0, RET_ALLOW],
      [BPF_RET_K, 0, 0, retErrno(EPERM)]
    ]))
  }
  program.push(...ifEqual(table.clone, [
    [BPF_LD_W_ABS, 0, 0, DATA_ARG0],
    [BPF_JSET_K, 0, 1, CLONE_NEW_FLAGS],
    [BPF_RET_K, 0, 0, retErrno(EPERM)],
    [BPF_RET_K, 0, 0, RET_ALLOW]
  ]))
  const families: Insn[] = [[BPF_LD_W_ABS, 0, 0, DATA_ARG0]]
  for (const family of ALLOWED_FAMILIES) families.push([BPF_JEQ_K, 0, 1, family], [BPF_RET_K, 0, 0, RET_ALLOW])
  families.push(...ifEqual(AF_NETLINK, [
    [BPF_LD_W_ABS, 0, 0, DATA_ARG2],
    [BPF_JEQ_K, 0, 1, NETLINK_ROUTE],
    [BPF_RET_K, 0, 0, RET_ALLOW],
    [BPF_RET_K, 0, 0, retErrno(EAFNOSUPPORT)]
  ]))
  families.push([BPF_RET_K, 0, 0, retErrno(EAFNOSUPPORT)])
  program.push(...ifEqual(table.socket, families))
  program.push([BPF_RET_K, 0, 0, RET_ALLOW])

  const bytes = Buffer.alloc(program.length * 8)
  program.forEach(([code, jt, jf, k], i) => {
    bytes.writeUInt16LE(code, i * 8)
    bytes.writeUInt8(jt, i * 8 + 2)
    bytes.writeUInt8(jf, i * 8 + 3)
    bytes.writeUInt32LE(k >>> 0, i * 8 + 4)
  })
  return bytes
}
