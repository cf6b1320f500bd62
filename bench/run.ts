/**
 * `npm run bench`: runs every `bench/*.bench.ts` in its own process, one after another, so one
 * benchmark's garbage or open handles never skew the next. `npm run bench -- storage` runs only the
 * files whose name contains `storage`. Each file prints its own numbers; runs are noisy on shared
 * machines, so each benchmark reports the median of several rounds.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

console.log(`# actor-raft benchmarks on node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
let failed = 0;
for (const f of files) {
  console.log(`\n## ${f}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
