/**
 * The safety checker must catch what it claims to: each rule is fed a history that breaks it.
 * (A checker that never fires would make every randomized run pass.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { RaftLog } from '../src/raft/raft-log.ts';
import { type Entry, EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import { SafetyChecker, SafetyViolation } from '../src/sim/safety.ts';

const ent = (index: number, term: number, d = ''): Entry => ({ index, term, type: EntryType.Normal, data: new TextEncoder().encode(d) });
const logOf = (...ents: Entry[]) => {
  const st = new MemoryStorage();
  st.appendSync(ents);
  return new RaftLog(st);
};

const violations: [string, RegExp, (c: SafetyChecker) => void][] = [
  ['two leaders in one term', /election safety/, (c) => {
    c.leaderElected(1, 3, logOf());
    c.leaderElected(2, 3, logOf());
  }],
  ['same (index, term) with different data', /log matching/, (c) => {
    c.entriesWritten(1, [ent(1, 1, 'a')], logOf(ent(1, 1, 'a')));
    c.entriesWritten(2, [ent(1, 1, 'b')], logOf(ent(1, 1, 'b')));
  }],
  ['same (index, term) after different terms', /log matching/, (c) => {
    c.entriesWritten(1, [ent(2, 3)], logOf(ent(1, 1), ent(2, 3)));
    c.entriesWritten(2, [ent(2, 3)], logOf(ent(1, 2), ent(2, 3)));
  }],
  ['leader missing a committed entry', /leader completeness/, (c) => {
    c.committed(1, 2, logOf(ent(1, 1), ent(2, 1)));
    c.leaderElected(3, 2, logOf(ent(1, 1)));
  }],
  ['different entries applied at one index', /state machine safety/, (c) => {
    c.applied(1, [ent(1, 1, 'x')]);
    c.applied(2, [ent(1, 2, 'y')]);
  }],
  ['term going back', /monotonic term/, (c) => {
    c.progress(1, 5, 0, 0);
    c.progress(1, 4, 0, 0);
  }],
  ['commit going back', /monotonic commit/, (c) => {
    c.progress(1, 1, 5, 0);
    c.progress(1, 1, 4, 0);
  }],
  ['durable vote changed within a term', /one vote per term/, (c) => {
    c.durableHardState(1, { term: 2, vote: 1, commit: 0 });
    c.durableHardState(1, { term: 2, vote: 3, commit: 0 });
  }],
  ['vote granted before it is durable', /persist before vote/, (c) => {
    c.messageSent(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 4 }), new MemoryStorage(), logOf());
  }],
  ['append acked before it is durable', /persist before ack/, (c) => {
    c.messageSent(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index: 3 }), new MemoryStorage(), logOf(ent(1, 1), ent(2, 1), ent(3, 1)));
  }],
];

for (const [name, rule, history] of violations) {
  test(`catches: ${name}`, () => {
    const checker = new SafetyChecker(42, () => 7);
    try {
      history(checker);
      assert.unreachable('no violation reported');
    } catch (err) {
      assert.instance(err, SafetyViolation);
      assert.match((err as Error).message, rule);
      assert.match((err as Error).message, /seed 42, step 7/);
    }
  });
}

test('a legal history passes', () => {
  const c = new SafetyChecker(1, () => 0);
  c.leaderElected(1, 1, logOf());
  c.entriesWritten(1, [ent(1, 1, 'a')], logOf(ent(1, 1, 'a')));
  c.entriesWritten(2, [ent(1, 1, 'a')], logOf(ent(1, 1, 'a')));
  c.committed(1, 1, logOf(ent(1, 1, 'a')));
  c.applied(1, [ent(1, 1, 'a')]);
  c.applied(2, [ent(1, 1, 'a')]);
  c.leaderElected(2, 2, logOf(ent(1, 1, 'a')));
  c.durableHardState(1, { term: 1, vote: 1, commit: 0 });
  c.durableHardState(1, { term: 2, vote: 2, commit: 1 });
  c.restarted(1);
  c.progress(1, 0, 0, 0);
});

test.run();
