#!/usr/bin/env node
// `npm test`: type-check, then run every uvu suite under test/ (files named *.test.ts), each file
// in its own process on the ESM path, so that a crash in one file cannot hide the others and each
// file's time and skips are its own. Prints a table of per-suite times and closes with the line
// `N passed, N failed, N skipped` that CI reads.
//
// `npm test -- <regex>` runs the files whose name matches; SKIP_TYPECHECK=1 skips the type-check.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The only skips allowed: `{ file, count, reason }`. A prerequisite a suite needs is installed by
 * `.ci/run`, not skipped; any skip not declared here, or more skips than declared, fails the run.
 */
const DECLARED_SKIPS = [];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env, NO_COLOR: '1' };
delete env.FORCE_COLOR;
const filter = new RegExp(process.argv[2] ?? '\\.test\\.ts$');

let failed = 0;
let passed = 0;
let skipped = 0;
const timings = [];
const problems = [];

if (!process.env.SKIP_TYPECHECK) {
  const started = performance.now();
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const tc = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit', env, cwd: root });
  timings.push({ name: 'type-check', ms: performance.now() - started, note: tc.status === 0 ? 'ok' : 'FAILED' });
  if (tc.status === 0) {
    passed += 1;
    console.log('type-check: ok');
  } else {
    failed += 1;
    problems.push('type-check failed');
    console.log('type-check: FAILED');
  }
}

const files = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts') && filter.test(f))
  .sort();
if (files.length === 0) {
  failed += 1;
  problems.push(`no test file matches ${filter}`);
}

const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs one suite file in its own process; resolves with its counts as uvu reported them. */
function runFile(file) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', uvu, 'test', `^${escape(file)}$`, '--no-color'], {
      env,
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      out += chunk.toString();
      if (out.length > 1 << 20) out = out.slice(-65536);
    });
    child.on('close', (code, signal) => {
      const num = (label) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? 0);
      resolve({ file, code, signal, total: num('Total'), ok: num('Passed'), skips: num('Skipped'), ms: performance.now() - started });
    });
  });
}

for (const file of files) {
  const r = await runFile(file);
  passed += r.ok;
  let fileFailed = r.total - r.ok;
  if (r.code !== 0 && fileFailed === 0) {
    fileFailed = 1; // the file crashed, or failed outside a test
    problems.push(`${file}: exited with ${r.signal ?? r.code} outside any failing test`);
  } else if (fileFailed > 0) {
    problems.push(`${file}: ${fileFailed} failed`);
  }
  if (r.total === 0 && r.skips === 0 && r.code === 0) {
    fileFailed += 1;
    problems.push(`${file}: ran no test`);
  }
  failed += fileFailed;
  const declared = DECLARED_SKIPS.filter((d) => d.file === file).reduce((n, d) => n + d.count, 0);
  const allowed = Math.min(r.skips, declared);
  skipped += allowed;
  if (r.skips > allowed) {
    failed += r.skips - allowed;
    problems.push(`${file}: ${r.skips - allowed} skipped test(s) not declared in DECLARED_SKIPS of scripts/test.mjs (counted as failed)`);
  }
  timings.push({ name: file, ms: r.ms, note: `${r.ok}/${r.total}${r.skips ? `, ${r.skips} skipped` : ''}${fileFailed ? ', FAILED' : ''}` });
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const total = timings.reduce((a, t) => a + t.ms, 0);
const width = Math.max(...timings.map((t) => t.name.length), 10);
console.log('\nper-suite times (slowest first)');
for (const t of [...timings].sort((a, b) => b.ms - a.ms)) console.log(`  ${t.name.padEnd(width)}  ${secs(t.ms).padStart(8)}  ${t.note}`);
console.log(`  ${'total'.padEnd(width)}  ${secs(total).padStart(8)}`);
if (problems.length) console.log(`\n${problems.map((p) => `  ${p}`).join('\n')}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 ? 0 : 1);
