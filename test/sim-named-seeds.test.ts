/**
 * Seeds of the randomized fault schedule that once failed, each named after what it found. They
 * run with the schedule's defaults of when they were found — the simulated network did not yet
 * report unreachable peers (`npm run sim -- --seed N --no-unreachable` replays each) — so each still
 * walks into the situation it found, and a fix that regresses fails here by name, not only
 * somewhere in a long run. (Checked: without the fix of seed 1053, seed 1053 fails here again.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runRandomSchedule } from '../src/sim/random-schedule.ts';

const NAMED_SEEDS: readonly { seed: number; found: string }[] = [
  {
    seed: 73,
    found: 'a node partitioned since the start won an election with the vote of a wiped member (an empty --join store now votes only after a leader spoke to it)',
  },
  {
    seed: 487,
    found:
      'a member that lagged behind the replacement of two wiped members still knew their old directories and refused the new ones; one of them led, so it never received the removals that void its records (a refused leader now hands leadership to another voter)',
  },
  {
    seed: 1053,
    found:
      'a wiped member replaying the log from index 1 applied the first bootstrap entry, was the only voter of that configuration and elected itself (a member that joined empty now campaigns only after applying what a leader said was committed)',
  },
];

for (const { seed, found } of NAMED_SEEDS) {
  test(`seed ${seed}: ${found}`, () => {
    try {
      const r = runRandomSchedule(seed, { reportUnreachable: false });
      assert.ok(r.committed > 0, `seed ${seed} committed nothing`);
    } catch (err) {
      assert.unreachable((err as Error).message);
    }
  });
}

test.run();
