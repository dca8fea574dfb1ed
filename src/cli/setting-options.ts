import { InvalidArgumentError, Option } from 'commander'
import { DEFAULTS } from '../config/defaults.js'
import { AREAS, SETTINGS, envName, flagName } from '../config/settings.js'
import type { Command } from 'commander'
import type { PartialConfig } from '../config/config.js'
import type { Area, SettingKey, SettingSpec } from '../config/settings.js'

const HEADINGS: Record<Area, string> = {
  network: 'Network (libp2p, gossip, sync, blobs):',
  http: 'Status page and API:',
  agent: 'Research:',
  runner: 'Experiments (python, corpus, sandbox, limits):',
  claims: 'Claims and hypotheses (the swarm-wide ones must match on every node):',
  trust: 'Trust (verification of peers\' results):'
}

const integer = (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected a whole number')
  return n
}
const decimal = (value: string): number => {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number')
  return n
}
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

/**
 * A flag for every setting (src/config/settings.ts), grouped by area in `--help`, each naming its
 * default and its environment variable. No flag has a commander default: what the user did not
 * type is left to the config file, the environment and DEFAULTS (`settingFlags`).
 */
export function addSettingOptions (cmd: Command): Command {
  for (const area of AREAS) {
    for (const key of Object.keys(SETTINGS) as SettingKey[]) {
      const spec: SettingSpec = SETTINGS[key]
      if (spec.area !== area) continue
      for (const option of optionsFor(key, spec)) cmd.addOption(option.helpGroup(HEADINGS[area]))
    }
  }
  return cmd
}

function optionsFor (key: SettingKey, spec: SettingSpec): Option[] {
  const flag = flagName(key)
  const shown = spec.defaultNote ?? JSON.stringify(DEFAULTS[key])
  const description = `${spec.doc} (default ${shown}; env ${envName(key)})`
  if (spec.kind === 'bool') {
    // A setting on by default is turned off with --no-…; one off by default is only ever turned on.
    if (DEFAULTS[key] !== true) return [new Option(flag, description)]
    return [new Option(flag, description), new Option(`--no-${flag.slice(2)}`, `turn ${flag} off`)]
  }
  const option = new Option(`${flag} <${spec.arg ?? 'value'}>`, description)
  if (spec.choices !== undefined) option.choices(spec.choices)
  if (spec.kind === 'list') option.argParser(collect)
  if (spec.kind === 'int') option.argParser(integer)
  if (spec.kind === 'number') option.argParser(decimal)
  return [option]
}

/** The settings the user typed on the command line (their source is `cli`), as a config layer. */
export function settingFlags (cmd: Command): PartialConfig {
  const opts = cmd.opts<Record<string, unknown>>()
  const flags: Record<string, unknown> = {}
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    if (cmd.getOptionValueSource(key) === 'cli') flags[key] = opts[key]
  }
  return flags as PartialConfig
}
