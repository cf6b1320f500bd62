/**
 * Reads at the leader, driven through the role statechart with no host or network: lease-based
 * reads (thesis §6.4.1, `readOnlyOption: 'leaseBased'`) and heartbeat rounds shared by concurrent
 * ReadIndex requests (thesis §6.4). Node 1 of a 3-voter cluster, seeded. The test plays the host:
 * `sent` takes the queued messages as a Ready would, `persist` delivers the held self-acks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { resolveConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';
import { roleMachine } from '../src/machines/role.machine.ts';
import { type Message, MessageType, message } from '../src/raft/raftpb.ts';
import type { ReadOnlyOption } from '../src/raft/raft-config.ts';
import { RaftState } from '../src/raft/raft-state.ts';

const ELECTION_TICK = 10;
const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));
const enc = new TextEncoder();
const dec = new TextDecoder();
const ctx = (s: string) => enc.encode(s);

function node(readOnlyOption: ReadOnlyOption) {
  const config = resolveConfig({ nodeId: 1, peers, electionTick: ELECTION_TICK, heartbeatTick: 3, preVote: false, checkQuorum: true, readOnlyOption });
  const raft = new RaftState({ config, seed: 1 });
  const actor = createActor(roleMachine, { input: { raft } }).start();
  return { raft, actor };
}
type Node = ReturnType<typeof node>;

const receive = (n: Node, fields: Partial<Message> & Pick<Message, 'type' | 'from'>): void => {
  n.actor.send({ type: 'MESSAGE', msg: message({ to: 1, term: n.raft.term, ...fields }) });
};
const tick = (n: Node, times: number): void => {
  for (let i = 0; i < times; i++) n.actor.send({ type: 'TICK' });
};
const read = (n: Node, name: string): void => n.actor.send({ type: 'READ_INDEX', context: ctx(name) });

/** The host takes what node 1 queued (one Ready). */
function sent(n: Node): Message[] {
  const out = n.raft.msgs;
  n.raft.msgs = [];
  return out;
}
/** Heartbeats among `msgs`, as `to:context`. */
const heartbeats = (msgs: readonly Message[]): string[] =>
  msgs.filter((m) => m.type === MessageType.MsgHeartbeat).map((m) => `${m.to}:${m.context ? dec.decode(m.context) : ''}`);
/** Reads ready to serve, as `context@index`, and taken. */
function answered(n: Node): string[] {
  const out = n.raft.readStates.map((r) => `${dec.decode(r.context)}@${r.index}`);
  n.raft.readStates = [];
  return out;
}

function persist(n: Node): void {
  const own = n.raft.msgsAfterAppend.filter((m) => m.to === n.raft.id);
  n.raft.msgsAfterAppend = n.raft.msgsAfterAppend.filter((m) => m.to !== n.raft.id);
  for (const m of own) n.actor.send({ type: 'MESSAGE', msg: m });
}

/** Node 1 wins an election; its no-op entry is durable on itself only (not committed yet). */
function elect(n: Node): void {
  n.actor.send({ type: 'CAMPAIGN' });
  persist(n);
  receive(n, { type: MessageType.MsgVoteResp, from: 2 });
  persist(n);
  assert.is(n.raft.lead, 1, 'node 1 leads');
  sent(n);
}
/** Node 2 acks the leader's log: its no-op commits (the first commit of its term). */
function commitOwnTerm(n: Node): void {
  receive(n, { type: MessageType.MsgAppResp, from: 2, index: n.raft.log.lastIndex() });
  assert.ok(n.raft.committedInCurrentTerm(), 'the no-op of the term is committed');
  sent(n);
}

interface LeaseCase {
  readonly name: string;
  readonly option: ReadOnlyOption;
  readonly given: (n: Node) => void;
  /** Reads answered right after READ_INDEX, with no message exchanged. */
  readonly atOnce: string[];
  /** Heartbeats queued by the read. */
  readonly heartbeats: string[];
}

const leaseCases: LeaseCase[] = [
  {
    name: 'lease valid (a majority answered in this election timeout): answered at once from the commit index',
    option: 'leaseBased',
    given: (n) => (elect(n), commitOwnTerm(n)),
    atOnce: ['r@1'],
    heartbeats: [],
  },
  {
    name: "'safe' with the same contact: a heartbeat round, never the lease",
    option: 'safe',
    given: (n) => (elect(n), commitOwnTerm(n)),
    atOnce: [],
    heartbeats: ['2:r', '3:r'],
  },
  {
    name: 'lease expired (a new quorum round began and nobody answered since): a heartbeat round instead',
    option: 'leaseBased',
    given: (n) => {
      elect(n);
      commitOwnTerm(n);
      tick(n, ELECTION_TICK);
      sent(n);
    },
    atOnce: [],
    heartbeats: ['2:r', '3:r'],
  },
  {
    name: 'lease renewed by a heartbeat answer in the new round: answered at once again',
    option: 'leaseBased',
    given: (n) => {
      elect(n);
      commitOwnTerm(n);
      tick(n, ELECTION_TICK);
      sent(n);
      receive(n, { type: MessageType.MsgHeartbeatResp, from: 3 });
      sent(n);
    },
    atOnce: ['r@1'],
    heartbeats: [],
  },
  {
    name: 'no quorum contact in the term yet (nothing committed in it): the read waits, no round either',
    option: 'leaseBased',
    given: (n) => elect(n),
    atOnce: [],
    heartbeats: [],
  },
  {
    name: 'a leadership transfer in progress suspends the lease (the target campaigns at once)',
    option: 'leaseBased',
    given: (n) => {
      elect(n);
      commitOwnTerm(n);
      n.actor.send({ type: 'TRANSFER_LEADERSHIP', to: 3 });
      assert.is(n.raft.leadTransferee, 3);
      sent(n);
    },
    atOnce: [],
    heartbeats: ['2:r', '3:r'],
  },
];

for (const c of leaseCases) {
  test(`lease: ${c.name}`, () => {
    const n = node(c.option);
    c.given(n);
    read(n, 'r');
    assert.equal({ atOnce: answered(n), heartbeats: heartbeats(sent(n)) }, { atOnce: c.atOnce, heartbeats: c.heartbeats });
  });
}

test("lease: a leader that has not committed in its term answers only after that commit, at the commit's index", () => {
  const n = node('leaseBased');
  elect(n);
  read(n, 'early');
  assert.equal(answered(n), []);
  receive(n, { type: MessageType.MsgAppResp, from: 2, index: n.raft.log.lastIndex() });
  assert.equal(answered(n), ['early@1']);
});

test("config: 'leaseBased' without checkQuorum is refused with a ConfigError naming readOnlyOption", () => {
  const cases: [Record<string, unknown>, string | undefined][] = [
    [{ readOnlyOption: 'leaseBased', checkQuorum: false }, 'readOnlyOption'],
    [{ readOnlyOption: 'leaseBased', checkQuorum: true }, undefined],
    [{ readOnlyOption: 'safe', checkQuorum: false }, undefined],
    [{}, undefined],
  ];
  for (const [fields, field] of cases) {
    let got: string | undefined;
    try {
      const cfg = resolveConfig({ nodeId: 1, ...fields });
      if (!('readOnlyOption' in fields)) assert.is(cfg.readOnlyOption, 'safe', 'the default is ReadIndex');
    } catch (err) {
      assert.instance(err, ConfigError);
      got = (err as ConfigError).field;
      assert.match((err as Error).message, /checkQuorum/);
    }
    assert.is(got, field, JSON.stringify(fields));
  }
});

// ----- shared heartbeat rounds (ReadIndex, thesis §6.4) -----

test('rounds: N reads in one turn cost one heartbeat round, and its quorum answers all N', () => {
  const n = node('safe');
  elect(n);
  commitOwnTerm(n);
  const N = 20;
  for (let i = 0; i < N; i++) read(n, `r${i}`);
  const round = heartbeats(sent(n));
  // One heartbeat per follower, carrying the context of the last read (it left after all arrived).
  assert.equal(round, ['2:r19', '3:r19']);
  receive(n, { type: MessageType.MsgHeartbeatResp, from: 2, context: ctx('r19') });
  assert.equal(answered(n), Array.from({ length: N }, (_, i) => `r${i}@1`));
});

test('rounds: reads arriving while a round is in flight are not answered by it, and share the next round', () => {
  const n = node('safe');
  elect(n);
  commitOwnTerm(n);
  read(n, 'a');
  assert.equal(heartbeats(sent(n)), ['2:a', '3:a'], 'the round for a leaves');
  for (const name of ['b', 'c', 'd']) read(n, name);
  assert.equal(heartbeats(sent(n)), [], 'no round per read while one is in flight');
  receive(n, { type: MessageType.MsgHeartbeatResp, from: 2, context: ctx('a') });
  // Acks of a round sent before b arrived prove nothing about b (a newer leader may have committed since).
  assert.equal(answered(n), ['a@1']);
  assert.equal(heartbeats(sent(n)), ['2:d', '3:d'], 'one round for b, c and d');
  receive(n, { type: MessageType.MsgHeartbeatResp, from: 3, context: ctx('d') });
  assert.equal(answered(n), ['b@1', 'c@1', 'd@1']);
});

test('rounds: a round the host sent in part is not relabelled: the next read waits for its own round', () => {
  const n = node('safe');
  elect(n);
  commitOwnTerm(n);
  read(n, 'a');
  // A host that writes messages one by one took the heartbeat to 2 only.
  const toTwo = n.raft.msgs.findIndex((m) => m.type === MessageType.MsgHeartbeat && m.to === 2);
  n.raft.msgs.splice(toTwo, 1);
  read(n, 'b');
  assert.equal(heartbeats(n.raft.msgs), ['3:a'], 'the heartbeat to 3 still carries a');
  receive(n, { type: MessageType.MsgHeartbeatResp, from: 2, context: ctx('a') });
  assert.equal(answered(n), ['a@1'], 'b arrived after a heartbeat of that round left');
});

test('rounds: waiting reads ride on the periodic heartbeat when the round in flight is not confirmed', () => {
  const n = node('safe');
  elect(n);
  commitOwnTerm(n);
  read(n, 'a');
  sent(n);
  read(n, 'b');
  tick(n, 3); // heartbeatTick
  assert.equal(heartbeats(sent(n)), ['2:b', '3:b']);
  receive(n, { type: MessageType.MsgHeartbeatResp, from: 2, context: ctx('b') });
  assert.equal(answered(n), ['a@1', 'b@1'], 'the later round confirms the earlier read too');
});

test('rounds: reads deferred until the first commit of the term go out in one round', () => {
  const n = node('safe');
  elect(n);
  for (const name of ['a', 'b', 'c']) read(n, name);
  receive(n, { type: MessageType.MsgAppResp, from: 2, index: n.raft.log.lastIndex() });
  const hb = heartbeats(sent(n)).filter((h) => !h.endsWith(':'));
  assert.equal(hb, ['2:c', '3:c']);
  receive(n, { type: MessageType.MsgHeartbeatResp, from: 3, context: ctx('c') });
  assert.equal(answered(n), ['a@1', 'b@1', 'c@1']);
});

test('rounds: with leaseBased and the lease held, N reads send no heartbeat at all', () => {
  const n = node('leaseBased');
  elect(n);
  commitOwnTerm(n);
  for (let i = 0; i < 10; i++) read(n, `r${i}`);
  assert.equal(heartbeats(sent(n)), []);
  assert.is(answered(n).length, 10);
});

test.run();
