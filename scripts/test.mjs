#!/usr/bin/env node
// `npm test`: type-check, then run every uvu suite under test/ (files named *.test.ts) in one
// process on the ESM path, and close with the line `N passed, N failed` that CI reads.
import { spawnSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, NO_COLOR: '1' };
delete env.FORCE_COLOR;
const filter = process.argv[2] ?? '\\.test\\.ts$';

let failed = 0;
let passed = 0;

if (!process.env.SKIP_TYPECHECK) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const tc = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit', env });
  if (tc.status === 0) {
    passed += 1;
    console.log('type-check: ok');
  } else {
    failed += 1;
    console.log('type-check: FAILED');
  }
}

const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
const child = spawn(process.execPath, ['--import', 'tsx', uvu, 'test', filter, '--no-color'], { env, cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  out += chunk.toString();
  if (out.length > 1 << 20) out = out.slice(-65536);
});
child.on('close', (code) => {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  passed += ok;
  failed += total - ok;
  if (code !== 0 && total - ok === 0) failed += 1; // the runner itself crashed
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
});
