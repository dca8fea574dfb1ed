import { delimiter, dirname } from 'node:path'

/**
 * Variables of the daemon's environment a run may inherit: what Python, PyTorch, CUDA and the
 * C library need to find their parts and behave the same, and nothing else. Everything not
 * named here (API keys, tokens, cloud credentials, agent keys, SSH agent sockets) never reaches
 * a run: the environment is rebuilt from this list, not filtered from the daemon's.
 */
export const RUN_ENV_ALLOWED = [
  'LD_LIBRARY_PATH', 'PYTHONPATH', 'PYTHONHOME',
  'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ',
  'CUDA_HOME', 'CUDA_PATH', 'CUDA_MODULE_LOADING', 'CUDA_DEVICE_ORDER',
  'NVIDIA_DRIVER_CAPABILITIES', 'PYTORCH_CUDA_ALLOC_CONF', 'TORCH_CUDA_ARCH_LIST'
] as const

/**
 * Prefixes of tuning variables a run inherits too: the BLAS and OpenMP runtimes' (a machine's
 * OPENBLAS_CORETYPE changes a run's numbers in the 5th digit, measured), never credentials.
 */
export const RUN_ENV_ALLOWED_PREFIXES = ['OPENBLAS_', 'MKL_', 'OMP_', 'KMP_', 'GOMP_'] as const

/** Whether a variable of the daemon's environment reaches runs. */
export function allowedInRun (name: string): boolean {
  return (RUN_ENV_ALLOWED as readonly string[]).includes(name) || RUN_ENV_ALLOWED_PREFIXES.some((prefix) => name.startsWith(prefix))
}

/** Where a run looks for programs: the system's, then the interpreter's own folder (a venv's bin). */
export function runPath (python: string): string {
  const system = ['/usr/local/bin', '/usr/bin', '/bin']
  return [...new Set(python.includes('/') ? [dirname(python), ...system] : system)].join(delimiter)
}

/**
 * The whole environment of a run: the allowed variables the daemon has, a fixed PATH, HOME and
 * TMPDIR inside the run, an unprivileged user name (getpass and torch's caches read USER first),
 * and the harness's own variables on top.
 */
export function runEnvironment (options: { python: string, home: string, harness: Record<string, string>, from?: NodeJS.ProcessEnv }): Record<string, string> {
  const from = options.from ?? process.env
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && allowedInRun(name)) env[name] = value
  }
  return { ...env, PATH: runPath(options.python), HOME: options.home, TMPDIR: '/tmp', USER: 'swarmd-run', LOGNAME: 'swarmd-run', ...options.harness }
}
