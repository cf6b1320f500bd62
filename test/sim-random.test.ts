/**
 * Randomized fault schedules: every seed runs 2,000 ticks of drops, delays, reordering,
 * duplicates, partitions, crash/restart and amnesia (a wiped disk under an old node id) with every
 * safety rule checked after every step, then
 * demands liveness once the faults stop. A failure names the seed; replay it with
 * `npm run sim -- --seed N`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runRandomSchedule } from '../src/sim/random-schedule.ts';

const SEEDS = Number(process.env.SIM_SEEDS ?? 200);
const TICKS = 2000;

test(`${SEEDS} seeded fault schedules x ${TICKS} ticks: no safety violation, progress after healing`, () => {
  let proposed = 0;
  let committed = 0;
  let crashes = 0;
  let partitions = 0;
  let elections = 0;
  let amnesias = 0;
  const failures: string[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    try {
      const r = runRandomSchedule(seed, { ticks: TICKS });
      proposed += r.proposed;
      committed += r.committed;
      crashes += r.crashes;
      partitions += r.partitions;
      elections += r.maxTerm;
      amnesias += r.amnesias;
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  assert.equal(failures, [], failures.join('\n'));
  // The schedules must really exercise the faults they claim to.
  assert.ok(crashes > SEEDS, `crashes: ${crashes}`);
  assert.ok(partitions > SEEDS, `partitions: ${partitions}`);
  assert.ok(elections > SEEDS * 2, `terms reached: ${elections}`);
  assert.ok(amnesias > SEEDS / 2, `disks wiped (amnesia): ${amnesias}`);
  assert.ok(committed > SEEDS * 100, `committed: ${committed} of ${proposed} proposed`);
});

test.run();
