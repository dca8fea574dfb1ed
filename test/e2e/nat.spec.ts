import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { DaemonProcess, cleanupDaemons, eventually } from '../helpers/daemon-process.js'
import { NetTopology } from '../helpers/netns.js'
import type { HomeOptions } from '../helpers/netns.js'

const P2P_PORT = 4717

interface PeerView { peerId: string, path: string }
interface StatusView { reachability: string, listen: string[], relays: { holding: string[], serving: boolean }, peers: PeerView[] }

async function status (d: DaemonProcess): Promise<StatusView> {
  return d.api<StatusView>('/api/status')
}

/**
 * Volunteers at home (issue 17): two daemons, each behind its own NAT router that lets nothing new
 * in, and one public bootstrap daemon, which relays by default. Neither home daemon can be dialled
 * by the other; everything they share goes through the bootstrap (records by gossip and sync) or
 * through a slot they hold on it (code, fetched over a relayed connection).
 */
describe('e2e: volunteers behind NAT, in network namespaces', { timeout: 180_000 }, () => {
  after(async () => { await cleanupDaemons() })

  for (const nat of ['port-restricted', 'symmetric'] satisfies Array<HomeOptions['nat']>) {
    it(`two home daemons behind ${nat} NATs share records and fetch each other's code through the bootstrap's relay`, async () => {
      const net = await NetTopology.create()
      try {
        const pub = await net.addPublicHost('boot')
        const homes = [await net.addHomeHost('h1', { nat }), await net.addHomeHost('h2', { nat })]
        // A bootstrap daemon is one of its own bootstrap peers: it relays without being told (--relay auto).
        const boot = await DaemonProcess.start({ name: 'bootstrap', netns: pub.ns, listen: `/ip4/${pub.ip}/tcp/${P2P_PORT}`, httpHost: pub.mgmtIp })
        const bootAddr = `/ip4/${pub.ip}/tcp/${P2P_PORT}/p2p/${boot.peerId}`
        assert.deepEqual((await status(boot)).listen, [bootAddr], 'a public address is listed before AutoNAT confirms it')
        await boot.restart({ name: 'bootstrap', netns: pub.ns, listen: `/ip4/${pub.ip}/tcp/${P2P_PORT}`, httpHost: pub.mgmtIp, bootstrap: [bootAddr] })
        assert.equal((await status(boot)).relays.serving, true, 'a daemon listed among its own bootstrap peers relays')
        // AutoNAT confirms a public address once several peers dialled it back; until then it is unconfirmed.
        assert.ok(['public', 'unconfirmed'].includes((await status(boot)).reachability), (await status(boot)).reachability)

        const [a, b] = await Promise.all(homes.map(async (home, i) => DaemonProcess.start({ name: `home-${i + 1}`, netns: home.ns, listen: `/ip4/${home.ip}/tcp/${P2P_PORT}`, httpHost: home.mgmtIp, bootstrap: [bootAddr] }))) as [DaemonProcess, DaemonProcess]
        const diagnose = async (): Promise<unknown> => ({ a: await status(a), b: await status(b), aLog: a.output.slice(-3000), bLog: b.output.slice(-3000) })

        // Each home daemon sees that nobody can dial it and takes a slot on the relay it is connected to.
        for (const home of [a, b]) {
          await eventually(async () => (await status(home)).reachability === 'relayed', `${home.name} to hold a relay slot`, { diagnose })
          assert.deepEqual((await status(home)).relays.holding, [boot.peerId])
        }

        // Records: each sees what the other wrote, through the bootstrap.
        const fromA = await a.addHypothesis(`from home 1 behind ${nat} NAT`)
        const fromB = await b.addHypothesis(`from home 2 behind ${nat} NAT`)
        await eventually(async () => (await b.hypothesisIds()).includes(fromA), 'home 2 to hold home 1\'s record', { diagnose })
        await eventually(async () => (await a.hypothesisIds()).includes(fromB), 'home 1 to hold home 2\'s record', { diagnose })

        // Code: each stores a blob only it holds; the other fetches it from its author, through the relay.
        for (const [author, reader] of [[a, b], [b, a]] as const) {
          const code = randomBytes(200 * 1024)
          const added = await author.post<{ hash: string }>('/api/blobs', code)
          assert.equal(added.status, 201, JSON.stringify(added.body))
          // The author's announcement reaches the DHT (through the bootstrap) within moments; until then nobody knows where the blob is.
          let fetched = { status: 0, body: undefined as unknown }
          await eventually(async () => {
            fetched = await reader.request('GET', `/api/blobs/${added.body.hash}`)
            return fetched.status === 200
          }, `${reader.name} to fetch ${author.name}'s blob`, { diagnose })
          assert.ok(Buffer.from(fetched.body as Uint8Array).equals(code), `${reader.name} got ${author.name}'s exact bytes`)
          const link = (await status(reader)).peers.filter((p) => p.peerId === author.peerId).map((p) => p.path)
          assert.ok(link.length > 0, `${reader.name} is connected to ${author.name}`)
          // A symmetric NAT gives every connection a new port: no hole punch can work, only the relay.
          if (nat === 'symmetric') assert.deepEqual(link, ['relayed'])
          else assert.ok(link.every((path) => path === 'relayed' || path === 'hole-punched'), link.join())
          console.log(`# ${nat}: ${reader.name} reaches ${author.name} by ${link.join(', ')}`)
        }
        // The homes dialled out to the bootstrap: those connections need no relay.
        const direct = (await status(boot)).peers.filter((p) => p.peerId === a.peerId || p.peerId === b.peerId)
        assert.ok(direct.every((p) => p.path === 'direct'), 'the homes reach the bootstrap directly')
      } finally {
        await cleanupDaemons()
        await net.destroy()
      }
    })
  }

  it('a home daemon whose router forwards a port by UPnP is dialled directly; one behind NAT reaches it without the relay', async () => {
    const net = await NetTopology.create()
    try {
      const pub = await net.addPublicHost('boot')
      const [upnpHome, natHome] = [await net.addHomeHost('h1', { nat: 'upnp' }), await net.addHomeHost('h2', { nat: 'port-restricted' })]
      const boot = await DaemonProcess.start({ name: 'bootstrap', netns: pub.ns, listen: `/ip4/${pub.ip}/tcp/${P2P_PORT}`, httpHost: pub.mgmtIp, args: ['--relay', 'on'] })
      const bootAddr = `/ip4/${pub.ip}/tcp/${P2P_PORT}/p2p/${boot.peerId}`
      const a = await DaemonProcess.start({ name: 'upnp-home', netns: upnpHome.ns, listen: `/ip4/${upnpHome.ip}/tcp/${P2P_PORT}`, httpHost: upnpHome.mgmtIp, bootstrap: [bootAddr], upnp: true })
      const b = await DaemonProcess.start({ name: 'nat-home', netns: natHome.ns, listen: `/ip4/${natHome.ip}/tcp/${P2P_PORT}`, httpHost: natHome.mgmtIp, bootstrap: [bootAddr] })
      const diagnose = async (): Promise<unknown> => ({ a: await status(a), b: await status(b), aLog: a.output.slice(-3000) })

      // The router forwards the daemon's port (miniupnpd): its public address is the router's.
      await eventually(async () => (await status(a)).reachability === 'public', 'the UPnP home to be public', { diagnose })
      assert.ok((await status(a)).listen.includes(`/ip4/${upnpHome.wanIp}/tcp/${P2P_PORT}/p2p/${a.peerId}`), JSON.stringify((await status(a)).listen))
      await eventually(async () => (await status(b)).reachability === 'relayed', 'the NAT home to hold a relay slot', { diagnose })

      const code = randomBytes(100 * 1024)
      const added = await a.post<{ hash: string }>('/api/blobs', code)
      let fetched = { status: 0, body: undefined as unknown }
      await eventually(async () => {
        fetched = await b.request('GET', `/api/blobs/${added.body.hash}`)
        return fetched.status === 200
      }, 'the NAT home to fetch the UPnP home\'s blob', { diagnose })
      assert.ok(Buffer.from(fetched.body as Uint8Array).equals(code))
      const link = (await status(b)).peers.filter((p) => p.peerId === a.peerId).map((p) => p.path)
      assert.deepEqual(link, ['direct'], 'dialled on the forwarded port, not through the relay')
    } finally {
      await cleanupDaemons()
      await net.destroy()
    }
  })
})
