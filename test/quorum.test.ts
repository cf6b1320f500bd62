import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { committedIndex, majority, voteResult } from '../src/raft/quorum.ts';

test('majority of n voters', () => {
  for (const [n, q] of [[1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [7, 4]] as const) assert.is(majority(n), q, `n=${n}`);
});

test('committed index is the highest index a majority holds', () => {
  const cases: [number[], number][] = [
    [[5], 5],
    [[5, 3], 3],
    [[5, 3, 1], 3],
    [[1, 3, 5], 3],
    [[5, 5, 1, 1], 1],
    [[9, 8, 7, 2, 1], 7],
    [[0, 0, 10], 0],
    // Unsorted matches: the answer is not where the input happens to put it.
    [[3, 1, 2], 2],
    [[1, 5, 2, 4, 3], 3],
    [[4, 1, 3, 2], 2],
    [[2, 9, 1, 8, 3], 3],
  ];
  for (const [matches, want] of cases) {
    const voters = matches.map((_, i) => i + 1);
    assert.is(committedIndex(voters, (id) => matches[id - 1]!), want, JSON.stringify(matches));
  }
  assert.is(committedIndex([], () => 0), Infinity);
});

test('vote results: won, lost, pending', () => {
  const cases: [number, [number, boolean][], string][] = [
    [1, [[1, true]], 'won'],
    [1, [], 'pending'],
    [3, [[1, true]], 'pending'],
    [3, [[1, true], [2, true]], 'won'],
    [3, [[1, true], [2, false]], 'pending'],
    [3, [[1, true], [2, false], [3, false]], 'lost'],
    [5, [[1, true], [2, true], [3, false], [4, false]], 'pending'],
    [5, [[1, true], [2, false], [3, false], [4, false]], 'lost'],
    [5, [[1, true], [2, true], [3, true]], 'won'],
    [4, [[1, true], [2, true]], 'pending'],
    [4, [[1, true], [2, true], [3, false], [4, false]], 'lost'],
  ];
  for (const [n, votes, want] of cases) {
    const voters = Array.from({ length: n }, (_, i) => i + 1);
    assert.is(voteResult(voters, new Map(votes)), want, `${n} voters, ${JSON.stringify(votes)}`);
  }
});

test.run();
