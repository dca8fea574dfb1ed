import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** Device nodes every CUDA process needs whichever GPU it uses (control, unified memory, modeset, capabilities). */
const SHARED_NODE = /^nvidia(ctl|-uvm|-uvm-tools|-modeset|-caps)$/
const GPU_NODE = /^nvidia(\d+)$/

export interface GpuDeviceBinds {
  /** [host path, path inside] for each device node to bind. */
  devices: Array<[string, string]>
  /** The driver's folders of the bound GPUs, when the others must be masked under /proc; undefined: leave /proc as it is. */
  infoDirs?: string[]
}

interface DriverGpu { dir: string, minor: number, bus: string }

/** The driver's view of each GPU: its folder, device minor and PCI bus location. */
async function driverGpus (infoDir: string): Promise<DriverGpu[]> {
  let names: string[]
  try { names = await readdir(infoDir) } catch { return [] }
  const gpus: DriverGpu[] = []
  for (const name of names) {
    try {
      const text = await readFile(join(infoDir, name, 'information'), 'utf8')
      const minor = /^Device Minor:\s*(\d+)/m.exec(text)?.[1]
      const bus = /^Bus Location:\s*(\S+)/m.exec(text)?.[1] ?? name
      if (minor !== undefined) gpus.push({ dir: join(infoDir, name), minor: Number(minor), bus: bus.toLowerCase() })
    } catch {}
  }
  return gpus.sort((a, b) => a.bus < b.bus ? -1 : a.bus > b.bus ? 1 : 0)
}

/**
 * The NVIDIA device nodes a run may use. A run given GPU `gpu` (a CUDA index in PCI bus order,
 * which the runner sets with CUDA_DEVICE_ORDER=PCI_BUS_ID) gets that GPU's /dev/nvidiaN, found
 * through the driver's `Device Minor`, plus the shared nodes; no other GPU's node. Where the
 * driver's folders cannot be read, it gets the shared nodes and no GPU node at all: never
 * another worker's card. A run given no GPU gets no NVIDIA node.
 */
export async function gpuDeviceBinds (options: { deviceDir: string, infoDir: string, gpu?: number | undefined }): Promise<GpuDeviceBinds> {
  if (options.gpu === undefined) return { devices: [] }
  let names: string[]
  try { names = await readdir(options.deviceDir) } catch { return { devices: [] } }
  const given = (await driverGpus(options.infoDir))[options.gpu]
  const devices: Array<[string, string]> = []
  for (const name of names.sort()) {
    const minor = GPU_NODE.exec(name)?.[1]
    if (SHARED_NODE.test(name) || (minor !== undefined && given !== undefined && Number(minor) === given.minor)) {
      devices.push([join(options.deviceDir, name), `/dev/${name}`])
    }
  }
  return { devices, ...(given !== undefined ? { infoDirs: [given.dir] } : {}) }
}
