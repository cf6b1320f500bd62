/**
 * A bounded chaos run in `npm test`: `npm run chaos` with 3 member processes for 50 s under the
 * faults that restart at most one process (real OS processes, DiskStorage, TCP through the proxies), then the
 * report must say PASS: the history linearizable, every acknowledged write-once key present, every
 * member's state machine identical. CHAOS_SEED picks another seed; the failure output carries the
 * replay command.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const SCRIPT = fileURLToPath(new URL('../scripts/chaos.ts', import.meta.url));
const seed = process.env.CHAOS_SEED ?? '1';
// kill-all restarts every process at once, slow on a loaded machine; disk-full answers 503 "not
// applied" for a proposal a stopping member had already forwarded (see the report of the run);
// disk-fail has a test of its own (chaos-disk-fail).
const faults = 'kill,pause,partition-halves,partition-leader,partition-ring,membership,transfer-leader';

test(`chaos run: 3 members, 50 s, seed ${seed}: linearizable, nothing lost, members identical`, async () => {
  const { FORCE_COLOR: _f, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--nodes', '3', '--seconds', '50', '--seed', seed, '--faults', faults], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 0, `chaos run failed (exit ${code}):\n${output}`);
  assert.match(output, `PASS (seed ${seed})`);
  const checked = Number(/history: (\d+) operations on \d+ keys checked: linearizable/.exec(output)?.[1] ?? 0);
  assert.ok(checked >= 100, `only ${checked} operations checked:\n${output}`);
  assert.match(output, /state machines: identical on 3 members/);
  assert.match(output, /write-once keys: \d+ acknowledged, 0 missing/);
  // The nemesis really injected faults of several kinds.
  const injected = /faults injected: (.*)/.exec(output)?.[1] ?? '';
  const kinds = injected.split(', ').filter((k) => /\d/.test(k));
  assert.ok(kinds.length >= 2, `fault kinds injected: ${injected}\n${output}`);
});

test.run();
