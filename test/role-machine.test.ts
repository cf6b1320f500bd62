/**
 * The role statechart driven directly, with no node actor, host or network around it: one event
 * in, then the state it is in and the messages it queued out. Node 1 of a 3-voter cluster, seeded,
 * so the randomized election timeout is the same on every run. A table of cases per rule: elections
 * (§5.2), votes (§5.2, §5.4.1), terms (§5.1), PreVote (thesis §9.6), CheckQuorum and the leader
 * lease (thesis §6.2, §4.2.3).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { resolveConfig } from '../src/config.ts';
import { roleMachine } from '../src/machines/role.machine.ts';
import { MAX_RAFT_NUMBER } from '../src/raft/bounds.ts';
import { EntryType, type Message, MessageType, message, messageTypeName } from '../src/raft/raftpb.ts';
import { RaftState } from '../src/raft/raft-state.ts';

const ELECTION_TICK = 10;
const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));

interface Flags {
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
}

function node(flags: Flags = {}) {
  const raft = new RaftState({
    config: resolveConfig({ nodeId: 1, peers, electionTick: ELECTION_TICK, heartbeatTick: 1, preVote: flags.preVote ?? false, checkQuorum: flags.checkQuorum ?? false }),
    seed: 1,
  });
  const actor = createActor(roleMachine, { input: { raft } }).start();
  return { raft, actor };
}
type Node = ReturnType<typeof node>;

/** A message to node 1. */
const receive = (n: Node, fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'term'>): void => {
  n.actor.send({ type: 'MESSAGE', msg: message({ to: 1, ...fields }) });
};
const tick = (n: Node, times: number): void => {
  for (let i = 0; i < times; i++) n.actor.send({ type: 'TICK' });
};
/** Past any randomized election timeout, which lies in [electionTick, 2 * electionTick). */
const timeOut = (n: Node): void => tick(n, 2 * ELECTION_TICK);

/** What node 1 queued, one line a message, and the queues emptied. Held messages included. */
function sent(n: Node): string[] {
  const all = [...n.raft.msgs, ...n.raft.msgsAfterAppend];
  n.raft.msgs = [];
  n.raft.msgsAfterAppend = [];
  return all.map((m) => `${messageTypeName(m.type)}→${m.to} t${m.term}${m.reject ? ' reject' : ''}`);
}

/** The host's part once the disk write is done: held messages to self are delivered back. */
function persist(n: Node): void {
  const own = n.raft.msgsAfterAppend.filter((m) => m.to === n.raft.id);
  n.raft.msgsAfterAppend = n.raft.msgsAfterAppend.filter((m) => m.to !== n.raft.id);
  for (const m of own) n.actor.send({ type: 'MESSAGE', msg: m });
}

function becomeCandidate(n: Node): void {
  n.actor.send({ type: 'CAMPAIGN' });
  persist(n);
}

function becomeLeader(n: Node): void {
  becomeCandidate(n);
  receive(n, { type: MessageType.MsgVoteResp, from: 2, term: n.raft.term });
  persist(n);
}

function follow(n: Node, leader: number, term: number): void {
  receive(n, { type: MessageType.MsgHeartbeat, from: leader, term });
}

interface Case {
  readonly name: string;
  readonly flags?: Flags;
  readonly given?: (n: Node) => void;
  readonly when: (n: Node) => void;
  readonly state: string;
  readonly term: number;
  readonly vote?: number;
  readonly lead?: number;
  readonly sent?: readonly string[];
}

const cases: Case[] = [
  // ----- elections (§5.2) -----
  {
    name: 'election timeout without PreVote: a follower becomes a candidate, raises its term, votes for itself and asks the others',
    when: timeOut,
    state: 'candidate',
    term: 1,
    vote: 1,
    sent: ['MsgVote→2 t1', 'MsgVote→3 t1', 'MsgVoteResp→1 t1'],
  },
  {
    name: 'no election timeout yet: a follower stays one, and sends nothing',
    when: (n) => tick(n, ELECTION_TICK - 1),
    state: 'follower',
    term: 0,
    vote: 0,
    sent: [],
  },
  {
    name: 'a candidate with its own durable vote and one grant holds a majority: leader, with a no-op of its term appended and sent',
    given: becomeCandidate,
    when: (n) => receive(n, { type: MessageType.MsgVoteResp, from: 2, term: 1 }),
    state: 'leader',
    term: 1,
    lead: 1,
    sent: ['MsgApp→2 t1', 'MsgApp→3 t1', 'MsgAppResp→1 t1'],
  },
  {
    name: 'a grant before the candidate’s own vote is durable is not yet a majority',
    given: (n) => n.actor.send({ type: 'CAMPAIGN' }),
    when: (n) => {
      receive(n, { type: MessageType.MsgVoteResp, from: 2, term: 1 });
    },
    state: 'candidate',
    term: 1,
    sent: [],
  },
  {
    name: 'two rejections in a 3-voter cluster lose the election: back to follower, same term',
    given: becomeCandidate,
    when: (n) => {
      receive(n, { type: MessageType.MsgVoteResp, from: 2, term: 1, reject: true });
      receive(n, { type: MessageType.MsgVoteResp, from: 3, term: 1, reject: true });
    },
    state: 'follower',
    term: 1,
    vote: 1,
    sent: [],
  },
  {
    name: 'a split vote times out: the candidate starts a new election at the next term',
    given: becomeCandidate,
    when: timeOut,
    state: 'candidate',
    term: 2,
    vote: 1,
    sent: ['MsgVote→2 t2', 'MsgVote→3 t2', 'MsgVoteResp→1 t2'],
  },
  {
    name: 'a candidate that hears AppendEntries from a leader of its term follows it',
    given: becomeCandidate,
    when: (n) => receive(n, { type: MessageType.MsgApp, from: 3, term: 1 }),
    state: 'follower',
    term: 1,
    lead: 3,
    sent: ['MsgAppResp→3 t1'],
  },
  // ----- votes (§5.2, §5.4.1) -----
  {
    name: 'a follower grants its vote to the first candidate of a newer term whose log is as up-to-date',
    when: (n) => receive(n, { type: MessageType.MsgVote, from: 2, term: 1 }),
    state: 'follower',
    term: 1,
    vote: 2,
    sent: ['MsgVoteResp→2 t1'],
  },
  {
    name: 'one vote per term: a second candidate of the same term is refused',
    given: (n) => receive(n, { type: MessageType.MsgVote, from: 2, term: 1 }),
    when: (n) => {
      receive(n, { type: MessageType.MsgVote, from: 3, term: 1 });
    },
    state: 'follower',
    term: 1,
    vote: 2,
    sent: ['MsgVoteResp→3 t1 reject'],
  },
  {
    name: 'the same candidate asking again gets the vote again (a lost response is retried)',
    given: (n) => receive(n, { type: MessageType.MsgVote, from: 2, term: 1 }),
    when: (n) => {
      receive(n, { type: MessageType.MsgVote, from: 2, term: 1 });
    },
    state: 'follower',
    term: 1,
    vote: 2,
    sent: ['MsgVoteResp→2 t1'],
  },
  {
    name: 'a candidate whose log is behind is refused even in a newer term (§5.4.1), but the term is adopted',
    given: (n) => {
      receive(n, { type: MessageType.MsgApp, from: 2, term: 2, index: 0, logTerm: 0, entries: [{ index: 1, term: 2, type: EntryType.Normal, data: new Uint8Array(0) }] });
      sent(n);
    },
    when: (n) => receive(n, { type: MessageType.MsgVote, from: 3, term: 3, index: 1, logTerm: 1 }),
    state: 'follower',
    term: 3,
    vote: 0,
    sent: ['MsgVoteResp→3 t3 reject'],
  },
  {
    name: 'a vote request of an older term is ignored: no answer, nothing changes',
    given: (n) => follow(n, 2, 5),
    when: (n) => {
      receive(n, { type: MessageType.MsgVote, from: 3, term: 4 });
    },
    state: 'follower',
    term: 5,
    lead: 2,
    sent: [],
  },
  // ----- terms (§5.1) -----
  {
    name: 'a leader that sees a newer term in AppendEntries steps down and follows the sender',
    given: becomeLeader,
    when: (n) => {
      receive(n, { type: MessageType.MsgApp, from: 2, term: 2, index: 1, logTerm: 1 });
    },
    state: 'follower',
    term: 2,
    lead: 2,
    sent: ['MsgAppResp→2 t2'],
  },
  {
    name: 'a leader that sees a newer term in a vote response steps down, with no leader known',
    given: becomeLeader,
    when: (n) => {
      receive(n, { type: MessageType.MsgVoteResp, from: 3, term: 4, reject: true });
    },
    state: 'follower',
    term: 4,
    lead: 0,
    vote: 0,
    sent: [],
  },
  {
    name: 'with CheckQuorum a stale leader’s AppendEntries is answered, so it learns the newer term',
    flags: { checkQuorum: true },
    given: (n) => follow(n, 2, 5),
    when: (n) => {
      receive(n, { type: MessageType.MsgApp, from: 3, term: 4 });
    },
    state: 'follower',
    term: 5,
    lead: 2,
    sent: ['MsgAppResp→3 t5'],
  },
  {
    name: 'a term above the bound is never adopted: the message is dropped',
    when: (n) => receive(n, { type: MessageType.MsgApp, from: 2, term: MAX_RAFT_NUMBER + 1 }),
    state: 'follower',
    term: 0,
    sent: [],
  },
  // ----- PreVote (thesis §9.6) -----
  {
    name: 'election timeout with PreVote: a pre-candidate asks for term+1 without raising its own term or voting',
    flags: { preVote: true },
    when: timeOut,
    state: 'preCandidate',
    term: 0,
    vote: 0,
    sent: ['MsgPreVote→2 t1', 'MsgPreVote→3 t1'],
  },
  {
    name: 'one granted pre-vote (its own counts at once) makes a real candidate at term+1',
    flags: { preVote: true },
    given: (n) => n.actor.send({ type: 'CAMPAIGN' }),
    when: (n) => {
      receive(n, { type: MessageType.MsgPreVoteResp, from: 2, term: 1 });
    },
    state: 'candidate',
    term: 1,
    vote: 1,
    sent: ['MsgVote→2 t1', 'MsgVote→3 t1', 'MsgVoteResp→1 t1'],
  },
  {
    name: 'refused pre-votes end the attempt with the term unchanged (no disruption)',
    flags: { preVote: true },
    given: (n) => n.actor.send({ type: 'CAMPAIGN' }),
    when: (n) => {
      receive(n, { type: MessageType.MsgPreVoteResp, from: 2, term: 0, reject: true });
      receive(n, { type: MessageType.MsgPreVoteResp, from: 3, term: 0, reject: true });
    },
    state: 'follower',
    term: 0,
    sent: [],
  },
  {
    name: 'a pre-vote request of a newer term is granted without adopting the term or casting a vote',
    flags: { preVote: true },
    when: (n) => receive(n, { type: MessageType.MsgPreVote, from: 2, term: 3 }),
    state: 'follower',
    term: 0,
    vote: 0,
    sent: ['MsgPreVoteResp→2 t3'],
  },
  {
    name: 'a pre-vote request of an older term is refused, telling the sender the current term',
    flags: { preVote: true },
    given: (n) => follow(n, 2, 5),
    when: (n) => {
      receive(n, { type: MessageType.MsgPreVote, from: 3, term: 4 });
    },
    state: 'follower',
    term: 5,
    sent: ['MsgPreVoteResp→3 t5 reject'],
  },
  // ----- CheckQuorum and the leader lease (thesis §6.2, §4.2.3) -----
  {
    name: 'leader lease: a follower that heard from its leader ignores a vote request of a newer term',
    flags: { checkQuorum: true },
    given: (n) => follow(n, 2, 1),
    when: (n) => {
      receive(n, { type: MessageType.MsgVote, from: 3, term: 2 });
    },
    state: 'follower',
    term: 1,
    lead: 2,
    sent: [],
  },
  {
    name: 'once the lease ran out (an election timeout of silence) the same request deposes the old term',
    flags: { checkQuorum: true },
    given: (n) => follow(n, 2, 1),
    when: (n) => {
      tick(n, ELECTION_TICK);
      sent(n);
      receive(n, { type: MessageType.MsgVote, from: 3, term: 5 });
    },
    state: 'follower',
    term: 5,
    vote: 3,
    sent: ['MsgVoteResp→3 t5'],
  },
  {
    name: 'CheckQuorum: a leader that heard from no follower for an election timeout steps down',
    flags: { checkQuorum: true },
    given: becomeLeader,
    when: (n) => tick(n, ELECTION_TICK),
    state: 'follower',
    term: 1,
    lead: 0,
  },
  {
    name: 'CheckQuorum: a leader that heard from a majority in the round stays leader',
    flags: { checkQuorum: true },
    given: becomeLeader,
    when: (n) => {
      for (let i = 0; i < ELECTION_TICK; i++) {
        tick(n, 1);
        receive(n, { type: MessageType.MsgHeartbeatResp, from: 2, term: 1 });
      }
    },
    state: 'leader',
    term: 1,
    lead: 1,
  },
  {
    name: 'without CheckQuorum a silent round does not depose the leader',
    given: becomeLeader,
    when: (n) => tick(n, 3 * ELECTION_TICK),
    state: 'leader',
    term: 1,
    lead: 1,
  },
];

for (const c of cases) {
  test(`role machine: ${c.name}`, () => {
    const n = node(c.flags);
    c.given?.(n);
    sent(n); // only what the event under test queues counts
    c.when(n);
    assert.is(n.actor.getSnapshot().status, 'active', 'the machine did not fail');
    assert.is(n.actor.getSnapshot().value, c.state, 'state');
    assert.is(n.raft.term, c.term, 'term');
    if (c.vote !== undefined) assert.is(n.raft.vote, c.vote, 'vote');
    if (c.lead !== undefined) assert.is(n.raft.lead, c.lead, 'lead');
    if (c.sent) assert.equal(sent(n), [...c.sent], 'messages out');
    n.actor.stop();
  });
}

test.run();
