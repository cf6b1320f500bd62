/**
 * ProgressTracker: the membership and per-member progress a leader keeps (etcd's ProgressTracker).
 * Tables of cases for what Raft relies on: only voters count towards a commit (§5.3, thesis §4.2.1
 * for learners), the first vote from a voter in a term is the one counted (§5.2), CheckQuorum
 * counts the leader itself (thesis §6.2), and a new leader's progress starts at its last index + 1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProgressTracker } from '../src/raft/tracker.ts';

function tracker(voters: number[], learners: number[] = []): ProgressTracker {
  return new ProgressTracker({ voters, learners }, 8, Infinity);
}

test('membership: voters and learners are kept sorted, copies are handed out, voters come first', () => {
  const t = tracker([3, 1, 2], [5, 4]);
  assert.equal(t.voters, [1, 2, 3]);
  assert.equal(t.members(), [1, 2, 3, 4, 5]);
  const cs = t.confState();
  assert.equal(cs, { voters: [1, 2, 3], learners: [4, 5] });
  (cs.voters as number[]).push(9);
  (cs.learners as number[]).push(9);
  assert.equal(t.confState(), { voters: [1, 2, 3], learners: [4, 5] }, 'the caller cannot change the tracker through a copy');
  t.setConfState({ voters: [7, 2], learners: [9, 8] });
  assert.equal(t.confState(), { voters: [2, 7], learners: [8, 9] });
  assert.ok(t.isVoter(7));
  assert.not.ok(t.isVoter(8));
});

test('a new leader starts every follower at lastIndex + 1 and itself at lastIndex, replicating', () => {
  const t = tracker([1, 2, 3], [4]);
  t.resetProgress(10, 1);
  const self = t.progress.get(1)!;
  assert.equal([self.match, self.next, self.state, self.recentActive], [10, 11, 'replicate', true]);
  for (const id of [2, 3, 4]) {
    const pr = t.progress.get(id)!;
    assert.equal([pr.match, pr.next, pr.state, pr.recentActive], [0, 11, 'probe', false], `node ${id}`);
  }
  assert.is(t.progress.get(4)!.isLearner, true);
  assert.is(t.progress.get(2)!.isLearner, false);
  t.resetProgress(3, 2);
  assert.is(t.progress.size, 4, 'old progress is dropped');
  assert.is(t.progress.get(2)!.match, 3);
});

test('the commit index counts voters only: learners and unknown members do not help', () => {
  const cases: [string, number[], number[], Record<number, number>, number][] = [
    ['three voters, two at 7', [1, 2, 3], [], { 1: 9, 2: 7, 3: 2 }, 7],
    ['a learner far ahead does not count', [1, 2, 3], [4], { 1: 9, 2: 1, 3: 1, 4: 9 }, 1],
    ['a voter without progress counts as 0', [1, 2, 3], [], { 1: 5 }, 0],
    ['one voter commits alone', [1], [2], { 1: 4, 2: 0 }, 4],
  ];
  for (const [name, voters, learners, match, want] of cases) {
    const t = tracker(voters, learners);
    t.resetProgress(0, voters[0]!);
    for (const [id, m] of Object.entries(match)) t.progress.get(Number(id))!.match = m;
    for (const id of voters) if (!(id in match)) t.progress.delete(id);
    assert.is(t.committed(), want, name);
  }
});

test('votes: the first answer of a voter counts; learners and strangers are not tallied', () => {
  const cases: [string, number[], [number, boolean][], { granted: number; rejected: number; result: string }][] = [
    ['nothing yet', [1, 2, 3], [], { granted: 0, rejected: 0, result: 'pending' }],
    ['a majority grants', [1, 2, 3], [[1, true], [2, true]], { granted: 2, rejected: 0, result: 'won' }],
    ['a later answer does not replace the first', [1, 2, 3], [[2, false], [2, true], [3, false], [3, true]], { granted: 0, rejected: 2, result: 'lost' }],
    ['a non-voter is ignored', [1, 2, 3], [[1, true], [9, true], [8, true]], { granted: 1, rejected: 0, result: 'pending' }],
    ['mixed answers', [1, 2, 3, 4, 5], [[1, true], [2, false], [3, true], [4, false]], { granted: 2, rejected: 2, result: 'pending' }],
  ];
  for (const [name, voters, votes, want] of cases) {
    const t = tracker(voters, [6]);
    for (const [id, granted] of votes) t.recordVote(id, granted);
    assert.equal(t.tallyVotes(), want, name);
    t.resetVotes();
    assert.equal(t.tallyVotes(), { granted: 0, rejected: 0, result: voters.length === 0 ? 'won' : 'pending' }, `${name}: after reset`);
  }
});

test('CheckQuorum: the leader counts itself; a learner heard from does not make a quorum', () => {
  const cases: [string, number[], number[], number[], boolean][] = [
    ['leader alone of three', [1, 2, 3], [], [], false],
    ['leader and one follower of three', [1, 2, 3], [], [2], true],
    ['leader and a learner of three', [1, 2, 3], [4], [4], false],
    ['two of five', [1, 2, 3, 4, 5], [], [2], false],
    ['three of five', [1, 2, 3, 4, 5], [], [2, 3], true],
    ['single voter', [1], [], [], true],
    ['leader not a voter (being removed), two of three others', [2, 3, 4], [], [2, 3], true],
    ['leader not a voter, one of three others', [2, 3, 4], [], [2], false],
  ];
  for (const [name, voters, learners, active, want] of cases) {
    const t = tracker(voters, learners);
    t.resetProgress(5, voters.includes(1) ? 1 : voters[0]!);
    for (const pr of t.progress.values()) pr.recentActive = false;
    for (const id of active) t.progress.get(id)!.recentActive = true;
    assert.is(t.quorumActive(1), want, name);
  }
});

test.run();
