/**
 * ProgressTracker: the membership and the leader's copy of each member's `match` as its replicator
 * reports it (etcd's ProgressTracker). Tables of cases for what Raft relies on: only voters count
 * towards a commit (§5.3, thesis §4.2.1 for learners), match only moves forward, the first vote
 * from a voter in a term is the one counted (§5.2), CheckQuorum counts the leader itself (thesis §6.2).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProgressTracker } from '../src/raft/tracker.ts';

function tracker(voters: number[], learners: number[] = []): ProgressTracker {
  return new ProgressTracker({ voters, learners });
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
  assert.ok(t.isMember(8));
  assert.not.ok(t.isMember(3));
});

test('a new leader knows nothing of its followers (match 0) and holds its own log to lastIndex', () => {
  const t = tracker([1, 2, 3], [4]);
  t.resetMatches(10, 1);
  assert.equal([1, 2, 3, 4].map((id) => t.matchOf(id)), [10, 0, 0, 0]);
  assert.equal(t.tracked(), [1, 2, 3, 4]);
  assert.equal([1, 2, 3, 4].map((id) => t.recentlyActive(id)), [true, false, false, false], 'only the leader counts as heard from');
  t.raiseMatch(2, 7);
  t.resetMatches(3, 2);
  assert.equal([1, 2, 3, 4].map((id) => t.matchOf(id)), [0, 3, 0, 0], 'an old leadership\'s matches are forgotten');
});

test('raiseMatch: reports only move match forward, and only for tracked members', () => {
  const cases: [string, [number, number][], Record<number, number>, boolean[]][] = [
    ['a first report', [[2, 5]], { 2: 5 }, [true]],
    ['a later, higher report', [[2, 5], [2, 8]], { 2: 8 }, [true, true]],
    ['a stale (lower) report is ignored', [[2, 8], [2, 5]], { 2: 8 }, [true, false]],
    ['the same report twice is no news', [[2, 8], [2, 8]], { 2: 8 }, [true, false]],
    ['a stranger is not tracked', [[9, 4]], { 9: 0 }, [false]],
  ];
  for (const [name, reports, want, news] of cases) {
    const t = tracker([1, 2, 3]);
    t.resetMatches(0, 1);
    assert.equal(reports.map(([id, m]) => t.raiseMatch(id, m)), news, `${name}: news`);
    for (const [id, m] of Object.entries(want)) assert.is(t.matchOf(Number(id)), m, `${name}: node ${id}`);
  }
});

test('syncMembers after a membership change: added members start at 0, removed ones are forgotten', () => {
  const t = tracker([1, 2, 3]);
  t.resetMatches(5, 1);
  t.raiseMatch(2, 5);
  t.raiseMatch(3, 4);
  t.markActive(3);
  t.setConfState({ voters: [1, 2, 4], learners: [5] });
  t.syncMembers(1, 6);
  assert.equal(t.tracked().sort(), [1, 2, 4, 5]);
  assert.equal([1, 2, 3, 4, 5].map((id) => t.matchOf(id)), [5, 5, 0, 0, 0]);
  assert.not.ok(t.recentlyActive(3), 'a removed member is no longer counted as heard from');
  assert.not.ok(t.raiseMatch(3, 9), 'reports about a removed member are ignored');
});

test('the commit index counts voters only: learners and unknown members do not help', () => {
  const cases: [string, number[], number[], Record<number, number>, number][] = [
    ['three voters, two at 7', [1, 2, 3], [], { 1: 9, 2: 7, 3: 2 }, 7],
    ['a learner far ahead does not count', [1, 2, 3], [4], { 1: 9, 2: 1, 3: 1, 4: 9 }, 1],
    ['a voter never heard of counts as 0', [1, 2, 3], [], { 1: 5 }, 0],
    ['one voter commits alone', [1], [2], { 1: 4, 2: 0 }, 4],
    ['five voters: the third highest', [1, 2, 3, 4, 5], [], { 1: 9, 2: 8, 3: 3, 4: 6, 5: 1 }, 6],
  ];
  for (const [name, voters, learners, match, want] of cases) {
    const t = tracker(voters, learners);
    t.resetMatches(0, voters[0]!);
    for (const [id, m] of Object.entries(match)) t.raiseMatch(Number(id), m);
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
    t.resetMatches(5, 1);
    t.markActive(9); // a stranger answering counts for nothing
    for (const id of active) t.markActive(id);
    assert.is(t.quorumActive(1), want, name);
    t.startQuorumRound(1);
    assert.is(t.quorumActive(1), voters.length === 1 && voters[0] === 1, `${name}: a new round forgets who was heard from`);
  }
});

test.run();
