import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configFromEnv, readConfigFile, resolveConfig, shippedBootstrapPeers } from '../../src/config/config.js'
import { resolveDataDir } from '../../src/config/data-dir.js'
import { DEFAULTS } from '../../src/config/defaults.js'
import { SETTINGS, byArea, configTableMarkdown, envName, flagName } from '../../src/config/settings.js'
import type { SettingKey } from '../../src/config/settings.js'
import { isSwarmdError } from '../../src/util/errors.js'
import { tempDir } from '../helpers/in-process-daemon.js'

/** The repository root, from dist/test/config. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

const peerA = '/ip4/10.0.0.1/tcp/4717/p2p/12D3KooWE4osAbmGAHAQ19Xx9T3aHqmCmTRVg5MWN7AjKxACcHtc'
const peerB = '/ip4/10.0.0.2/tcp/4717/p2p/12D3KooWKwxevTwsKQo8vV7Han464mNJF7M3j6oyeegrydMY57As'

describe('config resolution', () => {
  it('layers defaults < file < env < flags', () => {
    const config = resolveConfig({ file: { httpPort: 1000, swarm: 'file' }, env: { httpPort: 2000 }, flags: { swarm: 'flag' }, shippedBootstrap: [] })
    assert.equal(config.httpPort, 2000)
    assert.equal(config.swarm, 'flag')
    assert.equal(config.httpHost, DEFAULTS.httpHost)
    assert.equal(config.mdns, true)
  })

  it('adds bootstrap peers from every layer to the shipped list, without duplicates', () => {
    const config = resolveConfig({ file: { bootstrap: [peerA] }, env: {}, flags: { bootstrap: [peerB, peerA] }, shippedBootstrap: [peerA] })
    assert.deepEqual(config.bootstrap, [peerA, peerB])
  })

  it('refuses bad values with CONFIG_INVALID naming the key', () => {
    assert.throws(() => resolveConfig({ file: {}, env: {}, flags: { swarm: 'Bad Name!' }, shippedBootstrap: [] }),
      (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && /swarm/.test(err.message))
    assert.throws(() => resolveConfig({ file: {}, env: {}, flags: { bootstrap: ['/ip4/1.2.3.4/tcp/1'] }, shippedBootstrap: [] }),
      (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && /p2p/.test(err.message))
    // A memory limit the harness's evaluator cannot start under would crash every run.
    assert.throws(() => resolveConfig({ file: {}, env: {}, flags: { runMaxMemoryMb: 256 }, shippedBootstrap: [] }),
      (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && /--run-max-memory-mb: 0 \(75 % of RAM\) or at least 1024/.test(err.message))
    assert.equal(resolveConfig({ file: {}, env: {}, flags: { runMaxMemoryMb: 1024 }, shippedBootstrap: [] }).runMaxMemoryMb, 1024)
  })

  it('claim limits: defaults a newcomer swarm works under, overrides, and refusals naming the key', () => {
    const config = resolveConfig({ file: {}, env: {}, flags: {}, shippedBootstrap: [] })
    // An honest racer's claim must not count as late before the settle window is over.
    assert.ok(config.claimMaxLagMs >= config.claimSettleMs, `claimMaxLagMs ${config.claimMaxLagMs} < claimSettleMs ${config.claimSettleMs}`)
    assert.ok(config.maxActiveClaimsWithoutStanding >= 10, 'the 10-agent swarm of newcomers fits in the pool')
    assert.ok(config.claimRaceYieldsPerHour >= 1, 'an honest race among newcomers is still decided by date')
    assert.equal(config.claimMaxTtlMs, 0, 'derived from the profile unless set')
    const set = resolveConfig({ file: { claimMaxTtlMs: 600_000 }, env: {}, flags: { maxActiveClaimsWithoutStanding: 0, claimRaceYieldsPerHour: 0, claimMaxLagMs: 2_000 }, shippedBootstrap: [] })
    assert.deepEqual([set.claimMaxTtlMs, set.maxActiveClaimsWithoutStanding, set.claimRaceYieldsPerHour, set.claimMaxLagMs], [600_000, 0, 0, 2_000])
    for (const [key, value] of [['claimMaxLagMs', -1], ['claimMaxTtlMs', 48 * 3600_000], ['maxActiveClaimsWithoutStanding', 1.5], ['claimRaceYieldsPerHour', -2]] as const) {
      assert.throws(() => resolveConfig({ file: {}, env: {}, flags: { [key]: value }, shippedBootstrap: [] }),
        (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && err.message.includes(flagName(key)), `${key} = ${value}`)
      // The same value from config.json is named by its key there.
      assert.throws(() => resolveConfig({ file: { [key]: value }, env: {}, flags: {}, shippedBootstrap: [] }),
        (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && err.message.includes(`${key}:`), `${key} = ${value} in config.json`)
    }
  })

  it('reads SWARMD_* variables', () => {
    assert.deepEqual(configFromEnv({ SWARMD_HTTP_PORT: '9999', SWARMD_MDNS: 'off', SWARMD_BOOTSTRAP: `${peerA}, ${peerB}` }), { httpPort: 9999, mdns: false, bootstrap: [peerA, peerB] })
    assert.throws(() => configFromEnv({ SWARMD_HTTP_PORT: 'abc' }), (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && /SWARMD_HTTP_PORT/.test(err.message))
  })

  it('has a variable for every setting, named and parsed from the one settings table', () => {
    assert.deepEqual(configFromEnv({ SWARMD_CLAIM_TTL_MS: '90000', SWARMD_VERIFY_TOLERANCE: '0.02', SWARMD_VERIFY_BEFORE_ADOPT: 'false', SWARMD_LISTEN: '/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2', SWARMD_UNSAFE_NO_CGROUP: '1' }),
      { claimTtlMs: 90_000, verifyTolerance: 0.02, verifyBeforeAdopt: false, listen: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'], unsafeNoCgroup: true })
    const every = Object.fromEntries((Object.keys(SETTINGS) as SettingKey[]).map((key) => [envName(key), JSON.stringify(DEFAULTS[key]).replace(/^\[|\]$|"/g, '')]))
    assert.deepEqual(configFromEnv(every), { ...DEFAULTS, bootstrap: [] }, 'each default written as its variable reads back as itself')
    assert.throws(() => configFromEnv({ SWARMD_QUORUM: '0' }), (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && /SWARMD_QUORUM/.test(err.message))
  })

  it('splits the config by area, every setting in exactly one', () => {
    const areas = byArea(resolveConfig({ file: {}, env: {}, flags: {}, shippedBootstrap: [] }))
    const keys = Object.values(areas).flatMap((part) => Object.keys(part)).sort()
    assert.deepEqual(keys, Object.keys(DEFAULTS).sort())
    assert.deepEqual(areas.network.listen, DEFAULTS.listen)
    assert.equal(areas.claims.claimSettleMs, DEFAULTS.claimSettleMs)
    assert.equal(areas.trust.quorum, DEFAULTS.quorum)
  })

  it('the README\'s configuration table is the one the settings table prints', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    assert.ok(readme.includes(configTableMarkdown()), 'README.md lacks the current table: paste the output of `swarmd config --table` into its Configuration section')
  })

  it('reads config.json, refusing invalid JSON and unknown keys with the file name', async () => {
    const dir = await tempDir()
    try {
      const path = join(dir, 'config.json')
      assert.deepEqual(await readConfigFile(path), {})
      await writeFile(path, JSON.stringify({ httpPort: 5000 }))
      assert.deepEqual(await readConfigFile(path), { httpPort: 5000 })
      await writeFile(path, '{ nope')
      await assert.rejects(readConfigFile(path), (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID') && err.message.includes(path))
      await writeFile(path, JSON.stringify({ htpPort: 5000 }))
      await assert.rejects(readConfigFile(path), (err: unknown) => isSwarmdError(err, 'CONFIG_INVALID'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('ships a valid bootstrap list', async () => {
    assert.ok(Array.isArray(await shippedBootstrapPeers()))
  })

  it('puts the data dir at --data-dir, else $SWARMD_DATA_DIR, else XDG', () => {
    assert.equal(resolveDataDir('/tmp/x', {}), '/tmp/x')
    assert.equal(resolveDataDir(undefined, { SWARMD_DATA_DIR: '/tmp/y' }), '/tmp/y')
    assert.equal(resolveDataDir(undefined, { XDG_DATA_HOME: '/tmp/xdg' }), '/tmp/xdg/swarmd')
  })
})
