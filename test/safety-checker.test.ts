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
import { emptyDigest, foldDigest } from '../src/sim/digest-state-machine.ts';

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
    c.applied(1, ent(1, 1, 'x'));
    c.applied(2, ent(1, 2, 'y'));
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
    c.messageSent(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 4 }), new MemoryStorage());
  }],
  ['append acked before it is durable', /persist before ack/, (c) => {
    c.messageSent(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index: 3 }), new MemoryStorage());
  }],
  ['append acked while old entries of another term are still on disk at the acked index', /persist before ack/, (c) => {
    const disk = new MemoryStorage();
    disk.appendSync([ent(1, 1), ent(2, 1), ent(3, 2)]);
    disk.writeSync({ hardState: { term: 3, vote: 1, commit: 0 } });
    c.leaderElected(1, 3, logOf(ent(1, 1), ent(2, 1)));
    c.entriesWritten(1, [ent(3, 3)], logOf(ent(1, 1), ent(2, 1), ent(3, 3)));
    c.messageSent(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 3, index: 3 }), disk);
  }],
  ['vote granted while the disk holds an earlier term', /persist before vote/, (c) => {
    const disk = new MemoryStorage();
    disk.writeSync({ hardState: { term: 3, vote: 1, commit: 0 } });
    c.messageSent(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 4 }), disk);
  }],
  ['vote granted while the disk holds another vote in that term', /persist before vote/, (c) => {
    const disk = new MemoryStorage();
    disk.writeSync({ hardState: { term: 4, vote: 3, commit: 0 } });
    c.messageSent(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 4 }), disk);
  }],
  ['two votes granted in one term', /one vote per term/, (c) => {
    const disk = new MemoryStorage();
    disk.writeSync({ hardState: { term: 4, vote: 1, commit: 0 } });
    c.messageSent(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 4 }), disk);
    disk.writeSync({ hardState: { term: 4, vote: 3, commit: 0 } });
    c.messageSent(message({ type: MessageType.MsgVoteResp, from: 2, to: 3, term: 4 }), disk);
  }],
  ['an index applied twice', /apply exactly once/, (c) => {
    c.stateRestored(1, 0);
    c.applied(1, ent(1, 1));
    c.applied(1, ent(1, 1));
  }],
  ['an index skipped', /apply order/, (c) => {
    c.stateRestored(1, 0);
    c.applied(1, ent(2, 1));
  }],
  ['applied going back', /monotonic applied/, (c) => {
    c.progress(1, 1, 5, 5);
    c.progress(1, 1, 5, 4);
  }],
  ['a snapshot whose state is not the applied history', /snapshot contents/, (c) => {
    c.applied(1, ent(1, 1, 'a'));
    c.snapshotState(1, 1, emptyDigest, 'taken');
  }],
  ['a proposal applied with other data at its index', /proposal at its index/, (c) => {
    c.proposed(1, 1, new TextEncoder().encode('mine'));
    c.applied(1, ent(1, 1, 'other'));
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
  c.proposed(1, 1, new TextEncoder().encode('a'));
  c.applied(1, ent(1, 1, 'a'));
  c.applied(2, ent(1, 1, 'a'));
  c.snapshotState(2, 1, foldDigest(emptyDigest, 1, new TextEncoder().encode('a')), 'taken');
  c.leaderElected(2, 2, logOf(ent(1, 1, 'a')));
  c.durableHardState(1, { term: 1, vote: 1, commit: 0 });
  c.durableHardState(1, { term: 2, vote: 2, commit: 1 });
  c.restarted(1);
  c.progress(1, 0, 0, 0);
});

test.run();
