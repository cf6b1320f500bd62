/**
 * Majority quorums (Raft §5.2, §5.3): the arithmetic behind elections and commitment, kept apart
 * from everything else so it can be tested as a table. Mirrors etcd's quorum.MajorityConfig.
 */

export type VoteResult = 'pending' | 'won' | 'lost';

/** Votes needed to win among `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest index that a majority of `voters` have replicated: sort the match indexes in
 * descending order and take the one at position majority-1. An empty configuration commits
 * nothing it does not already have (returns +Infinity so that a min() ignores it, as etcd does).
 */
export function committedIndex(voters: readonly number[], matchOf: (id: number) => number): number {
  const n = voters.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  if (n === 1) return matchOf(voters[0]!);
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[majority(n) - 1]!;
}

/** Whether `votes` (true = granted) decide an election among `voters` yet. */
export function voteResult(voters: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = majority(voters.length);
  if (granted >= q) return 'won';
  if (granted + (voters.length - granted - rejected) >= q) return 'pending';
  return 'lost';
}
