/**
 * Progress: what the leader's replicator knows of one follower's log (Raft Figure 2 nextIndex and
 * matchIndex, with etcd's flow control). Each method belongs to one mode of the replicator
 * statechart; tables of cases per mode, as etcd's progress_test.go does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Progress } from '../src/raft/progress.ts';

function progress(match: number, next: number, window = 4): Progress {
  const pr = new Progress(next, window, Infinity);
  pr.match = match;
  return pr;
}

test('maybeUpdate: an ack moves match forward only, and next never falls behind it', () => {
  const cases: [string, number, number, number, { updated: boolean; match: number; next: number }][] = [
    ['an ack past match', 3, 5, 4, { updated: true, match: 4, next: 5 }],
    ['an ack past next pulls next along', 3, 5, 7, { updated: true, match: 7, next: 8 }],
    ['an ack of match is no news', 3, 5, 3, { updated: false, match: 3, next: 5 }],
    ['a stale ack below match', 3, 5, 1, { updated: false, match: 3, next: 5 }],
  ];
  for (const [name, match, next, ack, want] of cases) {
    const pr = progress(match, next);
    const updated = pr.maybeUpdate(ack);
    assert.equal({ updated, match: pr.match, next: pr.next }, want, name);
  }
});

test('an ack that moves match releases a waiting probe', () => {
  const pr = progress(3, 4);
  pr.sentProbe();
  assert.ok(pr.probePaused());
  pr.maybeUpdate(3);
  assert.ok(pr.probePaused(), 'no news: still waiting');
  pr.maybeUpdate(4);
  assert.not.ok(pr.probePaused());
});

test('probe: only the answer to the outstanding append is a current rejection', () => {
  const cases: [string, number, number, number, boolean][] = [
    ['rejects next-1', 2, 6, 5, true],
    ['rejects an older append', 2, 6, 4, false],
    ['rejects a later one', 2, 6, 6, false],
  ];
  for (const [name, match, next, rejected, want] of cases) assert.is(progress(match, next).isCurrentRejectionProbing(rejected), want, name);
});

test('replicate: a rejection counts only past match', () => {
  const cases: [string, number, number, boolean][] = [
    ['past match', 5, 6, true],
    ['at match (stale)', 5, 5, false],
    ['below match (stale)', 5, 3, false],
  ];
  for (const [name, match, rejected, want] of cases) assert.is(progress(match, 9).isCurrentRejectionPipelined(rejected), want, name);
});

test('probe: backtracking follows the hint but never to or below match, and never below 1', () => {
  const cases: [string, number, number, number, number, number][] = [
    ['the hint is below the rejected index', 0, 10, 9, 4, 5],
    ['the hint is past the rejected index: rejected wins', 0, 10, 9, 20, 9],
    ['the hint is below match: match+1 wins', 6, 10, 9, 2, 7],
    ['an empty follower (hint 0)', 0, 3, 2, 0, 1],
  ];
  for (const [name, match, next, rejected, hint, want] of cases) {
    const pr = progress(match, next);
    pr.sentProbe();
    pr.backtrackProbing(rejected, hint);
    assert.is(pr.next, want, name);
    assert.not.ok(pr.probePaused(), `${name}: the next probe may go`);
  }
});

test('replicate: pipelined appends move next and fill the window; empty ones do neither', () => {
  const pr = progress(5, 6, 2);
  pr.becomeReplicate();
  pr.sentPipelined(5, 0, 0);
  assert.equal([pr.next, pr.inflights.count], [6, 0], 'an empty append (commit only)');
  pr.sentPipelined(8, 3, 30);
  assert.equal([pr.next, pr.inflights.count, pr.windowFull()], [9, 1, false]);
  pr.sentPipelined(9, 1, 10);
  assert.equal([pr.next, pr.inflights.count, pr.windowFull()], [10, 2, true]);
  pr.inflights.freeLE(8);
  assert.not.ok(pr.windowFull(), 'an ack frees the window');
});

test('mode changes: where next goes and what flow control is cleared', () => {
  const cases: [string, (pr: Progress) => void, { next: number; pendingSnapshot: number; inflight: number; probeSent: boolean }][] = [
    ['probe after replicate restarts right after match', (pr) => pr.becomeProbe(), { next: 6, pendingSnapshot: 0, inflight: 0, probeSent: false }],
    ['replicate restarts right after match', (pr) => pr.becomeReplicate(), { next: 6, pendingSnapshot: 0, inflight: 0, probeSent: false }],
    ['snapshot keeps next and records the snapshot', (pr) => pr.becomeSnapshot(40), { next: 12, pendingSnapshot: 40, inflight: 0, probeSent: false }],
    [
      'probe after a snapshot continues past it',
      (pr) => {
        pr.becomeSnapshot(40);
        pr.becomeProbe();
      },
      { next: 41, pendingSnapshot: 0, inflight: 0, probeSent: false },
    ],
    [
      'probe after a snapshot older than match continues after match',
      (pr) => {
        pr.becomeSnapshot(3);
        pr.becomeProbe();
      },
      { next: 6, pendingSnapshot: 0, inflight: 0, probeSent: false },
    ],
  ];
  for (const [name, change, want] of cases) {
    const pr = progress(5, 6);
    pr.becomeReplicate();
    pr.sentPipelined(11, 6, 60);
    pr.sentProbe();
    change(pr);
    assert.equal({ next: pr.next, pendingSnapshot: pr.pendingSnapshot, inflight: pr.inflights.count, probeSent: pr.probeSent }, want, name);
  }
});

test.run();
