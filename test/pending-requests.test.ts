/**
 * When a RaftNode settles the promises it owes: a proposal resolves only for its own entry, is
 * rejected as soon as the log shows it was overwritten, and is reported as unknown when a snapshot
 * covers it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PendingRequests } from '../src/actors/pending-requests.ts';
import { ProposalDroppedError, ProposalOutcomeUnknownError } from '../src/errors.ts';
import { type Proposer, unwrapProposal, wrapProposal } from '../src/actors/proposal-envelope.ts';
import { type Entry, EntryType } from '../src/raft/raftpb.ts';

const me: Proposer = { nodeId: 1, instance: 1234 };
const previousRun: Proposer = { nodeId: 1, instance: 999 };

function tracker() {
  const pending = new PendingRequests(me);
  const outcomes = new Map<number, string>();
  const add = (seq: number, index = 0, term = 0) => {
    pending.addProposal(
      seq,
      Infinity,
      (r) => outcomes.set(seq, `ok@${r.index}`),
      (e) => outcomes.set(seq, e.constructor.name),
      () => {},
    );
    if (index) pending.located(seq, index, term);
  };
  return { pending, outcomes, add };
}

const entry = (index: number, term: number, who: Proposer, seq: number): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: wrapProposal(who, seq, new Uint8Array([seq])),
});

test('a proposal resolves for its own entry only, not for an entry of a previous run with the same sequence', () => {
  const { pending, outcomes, add } = tracker();
  add(1);
  const old = entry(3, 1, previousRun, 1);
  pending.applied(old, unwrapProposal(old.data), 'old');
  assert.is(outcomes.get(1), undefined, 'an old entry with seq 1 does not settle the new seq 1');
  const mine = entry(7, 2, me, 1);
  pending.applied(mine, unwrapProposal(mine.data), 'new');
  assert.is(outcomes.get(1), 'ok@7');
});

test('a write that replaces the tail rejects the proposals it overwrote or cut off', () => {
  const { pending, outcomes, add } = tracker();
  add(1, 5, 2);
  add(2, 6, 2);
  add(3, 7, 2);
  add(4, 4, 2);
  // A new leader's no-op lands at 5 and the log ends there; 4 is untouched.
  pending.logWritten([{ index: 5, term: 3, type: EntryType.Normal, data: new Uint8Array(0) }]);
  assert.is(outcomes.get(1), ProposalDroppedError.name);
  assert.is(outcomes.get(2), ProposalDroppedError.name);
  assert.is(outcomes.get(3), ProposalDroppedError.name);
  assert.is(outcomes.get(4), undefined);
  // Rewriting the same entry (a follower persisting the leader's copy) keeps it pending.
  const same = entry(4, 2, me, 4);
  pending.logWritten([same]);
  assert.is(outcomes.get(4), undefined);
});

test('a snapshot covering a proposal makes its outcome unknown; one beyond it stays pending', () => {
  const { pending, outcomes, add } = tracker();
  add(1, 10, 1);
  add(2, 30, 1);
  add(3); // forwarded, never seen
  pending.snapshotInstalled(20);
  assert.is(outcomes.get(1), ProposalOutcomeUnknownError.name);
  assert.is(outcomes.get(3), ProposalOutcomeUnknownError.name);
  assert.is(outcomes.get(2), undefined);
});

test('membership changes (no envelope) are recognised by index and term', () => {
  const { pending, outcomes, add } = tracker();
  add(1, 8, 4);
  pending.applied({ index: 8, term: 5, type: EntryType.ConfChange, data: new Uint8Array(0) }, undefined, undefined);
  assert.is(outcomes.get(1), ProposalDroppedError.name, 'another term at that index: overwritten');
  add(2, 9, 5);
  pending.applied({ index: 9, term: 5, type: EntryType.ConfChange, data: new Uint8Array(0) }, undefined, undefined);
  assert.is(outcomes.get(2), 'ok@9');
});

test.run();
