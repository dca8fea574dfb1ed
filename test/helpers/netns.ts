import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ChildProcess } from 'node:child_process'

const run = promisify(execFile)

/**
 * A small internet on this machine, built from network namespaces (issue 17): an "internet"
 * namespace holding a bridge, public hosts on it, and homes: a router namespace (its WAN on the
 * bridge, masquerading with iptables, dropping every new inbound connection) in front of a host
 * on its own private LAN. Every host namespace also gets a management link to the namespace the
 * test runs in, so the test reaches each daemon's API while the daemons see only their own
 * network. Needs root, `ip` and `iptables`; `NetTopology.create` throws, saying which, where it
 * cannot build (a test must fail then, never skip). `destroy` removes every namespace it made.
 */
export interface NetHost {
  /** The namespace to run a daemon in. */
  ns: string
  /** Its address on its own network: public on the bridge, or its home LAN address. */
  ip: string
  /** The address of its management link, reachable from the test's namespace only. */
  mgmtIp: string
}

export interface HomeOptions {
  /**
   * `port-restricted`: port-preserving masquerade, nothing new comes in; `symmetric`: a new random
   * public port per connection (`--random-fully`); `upnp`: port-restricted, but the router runs
   * miniupnpd, so a host may ask it (UPnP IGD or NAT-PMP) to forward a port.
   */
  nat: 'port-restricted' | 'symmetric' | 'upnp'
}

/** The internet's addresses: public-looking on purpose (libp2p treats private ranges as LAN). */
const INTERNET = '7.7.7'
/** Management links are /30s in 10.251.0.0/16, never reused in one process: a deleted namespace's links go away asynchronously. */
const MGMT = '10.251'
let managementLinks = 0
let topologies = 0

export class NetTopology {
  private readonly namespaces: string[] = []
  private readonly daemons: ChildProcess[] = []
  private readonly dirs: string[] = []
  private hosts = 0
  private homes = 0

  private constructor (private readonly prefix: string) {}

  static async create (): Promise<NetTopology> {
    if (process.getuid?.() !== 0) throw new Error('network namespaces need root: run the tests as root (CI does)')
    for (const [tool, probe] of [['ip', '-V'], ['iptables', '--version']] as const) {
      await run(tool, [probe]).catch((err: unknown) => { throw new Error(`${tool} is not available (${(err as Error).message}): bash scripts/install-system-deps.sh --test installs it`) })
    }
    // Names unique per topology: the links of one destroyed just before may still be going away.
    const topology = new NetTopology(`sw${process.pid % 10_000}${String.fromCharCode(97 + topologies++ % 26)}`)
    try {
      const inet = await topology.namespace('inet')
      await topology.exec(inet, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
      await topology.exec(inet, 'ip', 'link', 'set', 'br0', 'up')
    } catch (err) {
      await topology.destroy()
      throw new Error(`could not build network namespaces: ${(err as Error).message}`)
    }
    return topology
  }

  /** A host with a public address on the bridge (a bootstrap daemon, a VPS). */
  async addPublicHost (name: string): Promise<NetHost> {
    const ns = await this.namespace(name)
    const ip = `${INTERNET}.${1 + this.hosts}`
    await this.plugIntoInternet(ns, ip)
    return { ns, ip, mgmtIp: await this.management(ns) }
  }

  /** A host behind its own NAT router; the router's WAN address is public, the host's is 192.168.x.2. */
  async addHomeHost (name: string, options: HomeOptions): Promise<NetHost & { router: string, wanIp: string }> {
    const home = ++this.homes
    const router = await this.namespace(`${name}r`)
    const wanIp = `${INTERNET}.${100 + home}`
    await this.plugIntoInternet(router, wanIp)
    const ns = await this.namespace(name)
    const lan = `192.168.${home}`
    const [inside, outside] = [`${this.prefix}l${home}`, `${this.prefix}L${home}`]
    await this.root('ip', 'link', 'add', inside, 'type', 'veth', 'peer', 'name', outside)
    await this.root('ip', 'link', 'set', inside, 'netns', ns)
    await this.root('ip', 'link', 'set', outside, 'netns', router)
    await this.exec(ns, 'ip', 'link', 'set', inside, 'name', 'lan0')
    await this.exec(router, 'ip', 'link', 'set', outside, 'name', 'lan0')
    await this.exec(ns, 'ip', 'addr', 'add', `${lan}.2/24`, 'dev', 'lan0')
    await this.exec(router, 'ip', 'addr', 'add', `${lan}.1/24`, 'dev', 'lan0')
    await this.exec(ns, 'ip', 'link', 'set', 'lan0', 'up')
    await this.exec(router, 'ip', 'link', 'set', 'lan0', 'up')
    await this.exec(ns, 'ip', 'route', 'add', 'default', 'via', `${lan}.1`)
    await this.exec(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    // miniupnpd writes its forwards with the legacy iptables interface: the whole router uses it then.
    const iptables = options.nat === 'upnp' ? 'iptables-legacy' : 'iptables'
    await this.exec(router, iptables, '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan0', '-j', 'MASQUERADE', ...(options.nat === 'symmetric' ? ['--random-fully'] : []))
    if (options.nat === 'upnp') await this.startUpnpGateway(router, iptables, lan)
    // A home router: answers to what the home started pass, nothing new comes in (but what UPnP forwards).
    await this.exec(router, iptables, '-A', 'FORWARD', '-i', 'wan0', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
    await this.exec(router, iptables, '-A', 'FORWARD', '-i', 'wan0', '-j', 'DROP')
    return { ns, ip: `${lan}.2`, mgmtIp: await this.management(ns), router, wanIp }
  }

  // Faults between public hosts (bench:chaos's nemesis). The kernel here has no netem (no latency
  // or reordering to inject): loss is iptables' random drop, a slow link a token bucket.

  /** Nothing passes between `a` and `b`, either way. */
  async cut (a: NetHost, b: NetHost): Promise<void> {
    for (const [self, other] of [[a, b], [b, a]] as const) {
      await this.exec(self.ns, 'iptables', '-A', 'INPUT', '-s', other.ip, '-j', 'DROP')
      await this.exec(self.ns, 'iptables', '-A', 'OUTPUT', '-d', other.ip, '-j', 'DROP')
    }
  }

  /** Packets from `from` to `to` are dropped with this probability; the other way is untouched. */
  async lossy (from: NetHost, to: NetHost, probability: number): Promise<void> {
    await this.exec(from.ns, 'iptables', '-A', 'OUTPUT', '-d', to.ip, '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP')
  }

  /** Everything `host` sends goes through a token bucket of `kbit` kbit/s (a slow uplink: queueing delay). */
  async slow (host: NetHost, kbit: number): Promise<void> {
    await this.exec(host.ns, 'tc', 'qdisc', 'replace', 'dev', 'wan0', 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '16kbit', 'latency', '400ms')
  }

  /** Undo every fault on these hosts. */
  async heal (hosts: readonly NetHost[]): Promise<void> {
    for (const host of hosts) {
      await this.exec(host.ns, 'iptables', '-F', 'INPUT')
      await this.exec(host.ns, 'iptables', '-F', 'OUTPUT')
      await this.exec(host.ns, 'tc', 'qdisc', 'del', 'dev', 'wan0', 'root').catch(() => {})
    }
  }

  /** Remove every namespace made (their links go with them). Safe to call twice. */
  async destroy (): Promise<void> {
    for (const daemon of this.daemons.splice(0)) daemon.kill('SIGKILL')
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true })
    for (const ns of this.namespaces.splice(0).reverse()) await run('ip', ['netns', 'del', ns]).catch(() => {})
  }

  /** miniupnpd on the router, for its LAN only, with the chains it writes forwards into. */
  private async startUpnpGateway (router: string, iptables: string, lan: string): Promise<void> {
    await run('miniupnpd', ['--version']).catch((err: unknown) => { throw new Error(`miniupnpd is not available (${(err as Error).message}): bash scripts/install-system-deps.sh --test installs it`) })
    await this.exec(router, iptables, '-t', 'nat', '-N', 'MINIUPNPD')
    await this.exec(router, iptables, '-t', 'nat', '-I', 'PREROUTING', '-i', 'wan0', '-j', 'MINIUPNPD')
    await this.exec(router, iptables, '-t', 'nat', '-N', 'MINIUPNPD-POSTROUTING')
    await this.exec(router, iptables, '-t', 'nat', '-I', 'POSTROUTING', '-o', 'wan0', '-j', 'MINIUPNPD-POSTROUTING')
    await this.exec(router, iptables, '-N', 'MINIUPNPD')
    await this.exec(router, iptables, '-I', 'FORWARD', '-i', 'wan0', '!', '-o', 'wan0', '-j', 'MINIUPNPD')
    const dir = await mkdtemp(join(tmpdir(), 'swarmd-upnp-'))
    this.dirs.push(dir)
    const conf = join(dir, 'miniupnpd.conf')
    await writeFile(conf, [
      'ext_ifname=wan0', 'listening_ip=lan0', 'port=0', 'enable_upnp=yes', 'enable_natpmp=yes', 'secure_mode=yes',
      'system_uptime=yes', 'uuid=3e1b5f04-7d1c-4c2e-9a58-5b1f0c6d2a77',
      `allow 1024-65535 ${lan}.0/24 1024-65535`, 'deny 0-65535 0.0.0.0/0 0-65535', ''
    ].join('\n'))
    const daemon = spawn('ip', ['netns', 'exec', router, 'miniupnpd', '-f', conf, '-P', join(dir, 'pid'), '-d'], { stdio: 'ignore' })
    this.daemons.push(daemon)
    await new Promise((resolve) => setTimeout(resolve, 300))
    if (daemon.exitCode !== null) throw new Error(`miniupnpd exited with ${daemon.exitCode} in ${router}`)
  }

  private async namespace (name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`
    await run('ip', ['netns', 'del', ns]).catch(() => {})
    await this.root('ip', 'netns', 'add', ns)
    this.namespaces.push(ns)
    await this.exec(ns, 'ip', 'link', 'set', 'lo', 'up')
    return ns
  }

  private async plugIntoInternet (ns: string, ip: string): Promise<void> {
    const index = ++this.hosts
    const [inside, outside] = [`${this.prefix}w${index}`, `${this.prefix}W${index}`]
    await this.root('ip', 'link', 'add', inside, 'type', 'veth', 'peer', 'name', outside)
    await this.root('ip', 'link', 'set', inside, 'netns', ns)
    await this.root('ip', 'link', 'set', outside, 'netns', `${this.prefix}-inet`)
    await this.exec(ns, 'ip', 'link', 'set', inside, 'name', 'wan0')
    await this.exec(ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'wan0')
    await this.exec(ns, 'ip', 'link', 'set', 'wan0', 'up')
    await this.exec(`${this.prefix}-inet`, 'ip', 'link', 'set', outside, 'master', 'br0')
    await this.exec(`${this.prefix}-inet`, 'ip', 'link', 'set', outside, 'up')
  }

  /** A /30 between the test's namespace and `ns`, for the daemon's API only. */
  private async management (ns: string): Promise<string> {
    const link = managementLinks++
    const index = this.namespaces.length
    const [inside, outside] = [`${this.prefix}m${index}`, `${this.prefix}M${index}`]
    const base = `${MGMT}.${Math.floor(link / 64)}`
    const [ours, theirs] = [`${base}.${(link % 64) * 4 + 1}`, `${base}.${(link % 64) * 4 + 2}`]
    await this.root('ip', 'link', 'add', inside, 'type', 'veth', 'peer', 'name', outside)
    await this.root('ip', 'link', 'set', inside, 'netns', ns)
    await this.exec(ns, 'ip', 'link', 'set', inside, 'name', 'mgmt0')
    await this.exec(ns, 'ip', 'addr', 'add', `${theirs}/30`, 'dev', 'mgmt0')
    await this.exec(ns, 'ip', 'link', 'set', 'mgmt0', 'up')
    await this.root('ip', 'addr', 'add', `${ours}/30`, 'dev', outside)
    await this.root('ip', 'link', 'set', outside, 'up')
    return theirs
  }

  private async root (...command: string[]): Promise<void> {
    await run(command[0]!, command.slice(1)).catch((err: unknown) => { throw new Error(`${command.join(' ')}: ${(err as { stderr?: string }).stderr?.trim() ?? (err as Error).message}`) })
  }

  private async exec (ns: string, ...command: string[]): Promise<void> {
    await this.root('ip', 'netns', 'exec', ns, ...command)
  }
}
