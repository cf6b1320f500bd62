#!/usr/bin/env node
// The `actor-raft` command: the compiled CLI (dist/, built by `npm run build`, which `npm install`
// runs in a clone), resolved from this package so it works from any working directory.
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('actor-raft: the package is not built (dist/ is missing); run "npm run build" in its directory\n');
  process.exit(1);
}
await import(main.href);
