#!/usr/bin/env node
// `npm run build` (also `prepare`, so `npm install` / `npm ci` in a clone builds): compiles src/ to
// dist/ as ESM JavaScript with .d.ts and source maps, from a clean dist/.
// With --if-stale (used by `npm start`) it compiles only when a source is newer than the build, so a
// start after an edit runs the edit, and every other start costs no compile.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const stamp = join(dist, 'index.js');

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

if (process.argv.includes('--if-stale') && existsSync(stamp)) {
  const sources = Math.max(newestMtime(join(root, 'src')), statSync(join(root, 'tsconfig.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs);
  if (sources <= statSync(stamp).mtimeMs) process.exit(0);
  process.stdout.write('actor-raft: sources changed since the last build; compiling...\n');
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  process.stderr.write('actor-raft: cannot build: TypeScript is not installed (run npm install first)\n');
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
