/**
 * Randomized fault schedules: every seed runs 2,000 ticks of drops, delays, reordering,
 * duplicates, partitions, crash/restart and amnesia (a wiped disk under an old node id) with every
 * safety rule checked after every step, then demands liveness once the faults stop. A failure names
 * each failing seed and the command that replays it (`npm run sim -- --seed N`). Seeds 1..150 by
 * default; SIM_SEEDS=<n> runs n seeds and SIM_FROM=<first seed> (or `random`) moves the range.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runRandomSchedule } from '../src/sim/random-schedule.ts';
import { countFromEnv, seedFromEnv } from './helpers/seeds.ts';

const SEEDS = countFromEnv('SIM_SEEDS', 150);
const FROM = seedFromEnv('SIM_FROM', 1);
const TICKS = 2000;

test(`${SEEDS} seeded fault schedules (seeds ${FROM}..${FROM + SEEDS - 1}) x ${TICKS} ticks: no safety violation, progress after healing`, () => {
  let proposed = 0;
  let committed = 0;
  let crashes = 0;
  let partitions = 0;
  let elections = 0;
  let amnesias = 0;
  let breakerSeeds = 0;
  const failures: string[] = [];
  for (let seed = FROM; seed < FROM + SEEDS; seed++) {
    try {
      const r = runRandomSchedule(seed, { ticks: TICKS });
      proposed += r.proposed;
      committed += r.committed;
      crashes += r.crashes;
      partitions += r.partitions;
      elections += r.maxTerm;
      amnesias += r.amnesias;
      if (r.breakerOpens > 0) breakerSeeds++;
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
  // Peers reported unreachable open the leaders' circuit breakers, and the clusters still make progress.
  assert.ok(breakerSeeds > SEEDS / 2, `seeds where a circuit breaker opened: ${breakerSeeds}`);
});

test.run();
