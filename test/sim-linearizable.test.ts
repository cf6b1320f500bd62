/**
 * Simulated clients (put, CAS, linearizable get, with timeouts) against seeded fault schedules:
 * every recorded history must be linearizable, and the nodes' maps identical after healing, on top
 * of the safety checks the simulation makes after every step. A failure names the seed; replay one
 * with `LIN_SIM_SEED=<seed> npm test -- sim-linearizable`; `LIN_SIM_SEEDS=<n>` runs more. The lease-based
 * read schedules: `LIN_SIM_LEASE_SEED=<seed>`, `LIN_SIM_LEASE_SEEDS=<n>`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runHistorySchedule } from '../src/sim/kv-client-driver.ts';

const only = process.env.LIN_SIM_SEED;
const seeds = only ? [Number(only)] : Array.from({ length: Number(process.env.LIN_SIM_SEEDS ?? 16) }, (_, i) => i + 1);

test(`${seeds.length} seeded schedules with clients: every history linearizable, every map identical`, () => {
  let operations = 0;
  let unknown = 0;
  let crashes = 0;
  let partitions = 0;
  const failures: string[] = [];
  for (const seed of seeds) {
    try {
      const r = runHistorySchedule(seed);
      operations += r.operations;
      unknown += r.counts.unknown;
      crashes += r.crashes;
      partitions += r.partitions;
      if (only) console.log(JSON.stringify({ ...r, check: { verdict: r.check.verdict, elapsedMs: r.check.elapsedMs } }));
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  assert.equal(failures, [], failures.join('\n\n'));
  if (only) return;
  // The schedules must exercise what they claim: many operations, timeouts, crashes, partitions.
  assert.ok(operations > seeds.length * 100, `operations checked: ${operations}`);
  assert.ok(unknown > seeds.length, `unknown outcomes: ${unknown}`);
  assert.ok(crashes > seeds.length / 2, `crashes: ${crashes}`);
  assert.ok(partitions > seeds.length, `partitions: ${partitions}`);
});

const leaseOnly = process.env.LIN_SIM_LEASE_SEED;
const leaseSeeds = leaseOnly ? [Number(leaseOnly)] : only ? [] : Array.from({ length: Number(process.env.LIN_SIM_LEASE_SEEDS ?? 6) }, (_, i) => i + 1);

test(`${leaseSeeds.length} seeded schedules with lease-based reads (delay ≤ 3 ticks, no crashes): every history linearizable`, () => {
  let gets = 0;
  const failures: string[] = [];
  for (const seed of leaseSeeds) {
    try {
      const r = runHistorySchedule(seed, { leaseReads: true });
      gets += r.operations;
    } catch (err) {
      failures.push(`${(err as Error).message}\n(lease replay: LIN_SIM_LEASE_SEED=${seed} npm test -- sim-linearizable)`);
    }
  }
  assert.equal(failures, [], failures.join('\n\n'));
  if (leaseSeeds.length > 0) assert.ok(gets > leaseSeeds.length * 100, `operations checked: ${gets}`);
});

test.run();
