/**
 * The term bound in the core (src/raft/bounds.ts): a message above 2^48 stepped in by hand is
 * ignored, a node at the bound never campaigns (its `term + 1` would pass it), and adopting a term
 * above it is an error. The transport refuses such messages earlier; these guard the core itself.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_RAFT_NUMBER } from '../src/raft/bounds.ts';
import { MessageType, message } from '../src/raft/raftpb.ts';
import { StateType } from '../src/raft/state-type.ts';
import { Cluster, electLeader, plainRaft } from './helpers/cluster-harness.ts';

const preVote = { ...plainRaft, preVote: true };

test('a message with a term above 2^48 is ignored by every role: no term change, no answer', () => {
  for (const config of [plainRaft, preVote]) {
    const c = new Cluster(3, config);
    electLeader(c, 1);
    const terms = c.ids.map((id) => c.term(id));
    for (const term of [MAX_RAFT_NUMBER + 1, 2 ** 53 - 1, 2 ** 60]) {
      for (const type of [MessageType.MsgApp, MessageType.MsgVote, MessageType.MsgHeartbeat, MessageType.MsgPreVote]) {
        for (const to of c.ids) {
          const replies = c.stepRaw(message({ type, from: to === 3 ? 2 : 3, to, term, logTerm: term, index: 99 }));
          assert.equal(replies, [], `no answer to type ${type} at term ${term}`);
        }
      }
    }
    assert.equal(c.ids.map((id) => c.term(id)), terms, 'no term changed');
    assert.is(c.state(1), StateType.Leader);
  }
});

test('a node at the term bound never campaigns: term + 1 would pass it', () => {
  for (const config of [plainRaft, preVote]) {
    const c = new Cluster(3, config, { 1: { term: MAX_RAFT_NUMBER }, 2: { term: MAX_RAFT_NUMBER }, 3: { term: MAX_RAFT_NUMBER } });
    c.tickAll(100);
    c.settle();
    for (const id of c.ids) {
      assert.is(c.term(id), MAX_RAFT_NUMBER, `node ${id} stays at the bound`);
      assert.is(c.state(id), StateType.Follower);
    }
    assert.is(c.count((m) => m.term > MAX_RAFT_NUMBER), 0, 'no message carries a term above the bound');
  }
});

test('one below the bound a node still campaigns and wins at exactly the bound', () => {
  const c = new Cluster(3, plainRaft, { 1: { term: MAX_RAFT_NUMBER - 1 }, 2: { term: MAX_RAFT_NUMBER - 1 }, 3: { term: MAX_RAFT_NUMBER - 1 } });
  electLeader(c, 1);
  assert.is(c.term(1), MAX_RAFT_NUMBER);
  assert.is(c.state(1), StateType.Leader);
});

test.run();
