#!/usr/bin/env node
// The published entry point: the compiled CLI lives in dist/ (built by `npm run build`).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/src/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('swarmd is not built yet: run `npm run build` in the swarmd directory first\n')
  process.exit(1)
}
await import(main.href)
