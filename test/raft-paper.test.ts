/**
 * The rules of the Raft paper (§5.1–§5.4), one test per rule, against the real node actor. The
 * cases follow what etcd's raft_paper_test.go checks; PreVote and CheckQuorum are off here (plain
 * Raft) unless a case says otherwise.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeActor } from '../src/actors/node-actor.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { type Entry, type Message, MessageType, message, messageTypeName } from '../src/raft/raftpb.ts';
import {
  Cluster,
  buildNode,
  bytes,
  configFor,
  drainNode,
  electLeader,
  entriesWithTerms,
  logTerms,
  plainRaft,
  text,
  voteResp,
} from './helpers/cluster-harness.ts';

const ofType = (msgs: readonly Message[], type: MessageType) => msgs.filter((m) => m.type === type);
const recipients = (msgs: readonly Message[]) => msgs.map((m) => m.to).sort((a, b) => a - b);
const others = (n: number, self = 1) => Array.from({ length: n }, (_, i) => i + 1).filter((id) => id !== self);

/** A 3-node cluster (or n) in which node 1 was elected at term 1 and the no-op is committed everywhere. */
function clusterWithLeader(n = 3): Cluster {
  const c = new Cluster(n);
  electLeader(c, 1);
  return c;
}

/** Node 1 of an n-node cluster as a candidate at term 1 (its own vote persisted and counted). */
function candidate(n = 3): NodeActor {
  const a = buildNode(1, Array.from({ length: n }, (_, i) => i + 1));
  a.campaign();
  drainNode(a);
  return a;
}

// ----- §5.1 -----

test('§5.1 a node that sees a higher term in any message becomes a follower at that term', () => {
  const roles = ['follower', 'candidate', 'leader'] as const;
  const kinds = [MessageType.MsgApp, MessageType.MsgHeartbeat, MessageType.MsgVote, MessageType.MsgAppResp] as const;
  for (const role of roles) {
    for (const type of kinds) {
      const c = new Cluster(3);
      if (role === 'candidate') {
        c.isolate(1);
        c.campaign(1);
      } else if (role === 'leader') {
        electLeader(c, 1);
      }
      assert.is(c.state(1), role, `setup ${role}`);
      const higher = c.term(1) + 2;
      const m = message({ type, from: 2, to: 1, term: higher, logTerm: 1, index: 1 });
      c.stepRaw(m);
      const why = `${role} receiving ${messageTypeName(type)} at term ${higher}`;
      assert.is(c.state(1), 'follower', why);
      assert.is(c.term(1), higher, why);
      // The sender is the leader of the new term only if its message is a leader's.
      const expectLead = type === MessageType.MsgApp || type === MessageType.MsgHeartbeat ? 2 : 0;
      assert.is(c.node(1).raft.lead, expectLead, `${why}: lead`);
    }
  }
});

test('§5.1 a message with a stale term is ignored or answered with the current term, and changes nothing', () => {
  const cases: { config: typeof plainRaft; type: MessageType; answer: MessageType | undefined; reject?: boolean }[] = [
    { config: plainRaft, type: MessageType.MsgApp, answer: undefined },
    { config: plainRaft, type: MessageType.MsgHeartbeat, answer: undefined },
    { config: plainRaft, type: MessageType.MsgVote, answer: undefined },
    { config: plainRaft, type: MessageType.MsgAppResp, answer: undefined },
    // With CheckQuorum or PreVote a stale leader is told of the newer term, so it steps down.
    { config: { ...plainRaft, checkQuorum: true }, type: MessageType.MsgApp, answer: MessageType.MsgAppResp },
    { config: { ...plainRaft, preVote: true }, type: MessageType.MsgHeartbeat, answer: MessageType.MsgAppResp },
    { config: { ...plainRaft, preVote: true }, type: MessageType.MsgPreVote, answer: MessageType.MsgPreVoteResp, reject: true },
  ];
  for (const tc of cases) {
    const a = buildNode(1, [1, 2, 3], tc.config, { logTerms: [1, 2], term: 3, vote: 2, commit: 1 });
    drainNode(a);
    a.step(message({ type: tc.type, from: 2, to: 1, term: 2, index: 2, logTerm: 2, commit: 2, entries: [] }));
    const out = drainNode(a);
    const why = `stale ${messageTypeName(tc.type)} with ${JSON.stringify(tc.config)}`;
    assert.is(a.stateType(), 'follower', why);
    assert.is(a.raft.term, 3, why);
    assert.is(a.raft.vote, 2, why);
    assert.is(a.raft.lead, 0, why);
    assert.is(a.raft.log.committed, 1, `${why}: commit unchanged`);
    assert.equal(logTerms(a), [1, 2], `${why}: log unchanged`);
    if (tc.answer === undefined) {
      assert.equal(out, [], `${why}: no answer`);
    } else {
      assert.is(out.length, 1, why);
      assert.is(out[0]!.type, tc.answer, why);
      assert.is(out[0]!.to, 2, why);
      assert.is(out[0]!.term, 3, `${why}: answered with the current term`);
      assert.is(out[0]!.reject, tc.reject ?? false, why);
    }
  }
});

test('§5.2 a node starts as a follower with no leader', () => {
  const fresh = new NodeActor({ config: configFor(1, [1, 2, 3]) });
  assert.is(fresh.stateType(), 'follower');
  assert.is(fresh.raft.term, 0);
  assert.is(fresh.raft.vote, 0);
  assert.is(fresh.raft.lead, 0);
  // A restarted node also starts as a follower, at its persisted term and vote.
  const restarted = buildNode(2, [1, 2, 3], plainRaft, { logTerms: [1, 1, 2], term: 4, vote: 3, commit: 2 });
  assert.is(restarted.stateType(), 'follower');
  assert.is(restarted.raft.term, 4);
  assert.is(restarted.raft.vote, 3);
  assert.is(restarted.raft.lead, 0);
});

// ----- §5.2 elections -----

test('§5.2 a leader broadcasts a heartbeat to every peer each heartbeatTick', () => {
  for (const heartbeatTick of [1, 3]) {
    const c = new Cluster(3, { ...plainRaft, heartbeatTick });
    electLeader(c, 1);
    const leader = c.node(1);
    let out: Message[] = [];
    for (let i = 0; i < heartbeatTick - 1; i++) {
      leader.tick();
      out.push(...c.drain(1));
    }
    assert.equal(ofType(out, MessageType.MsgHeartbeat), [], `no heartbeat before ${heartbeatTick} ticks`);
    leader.tick();
    out = c.drain(1);
    const hbs = ofType(out, MessageType.MsgHeartbeat);
    assert.equal(recipients(hbs), [2, 3], `heartbeatTick ${heartbeatTick}`);
    for (const hb of hbs) {
      assert.is(hb.term, 1);
      assert.is(hb.from, 1);
      assert.is(hb.commit, 1, 'the heartbeat carries the commit index the follower holds');
      assert.equal(hb.entries, []);
    }
    assert.equal(ofType(out, MessageType.MsgApp), [], 'a heartbeat round sends no appends when followers are up to date');
  }
});

test('§5.2 a follower whose election timeout elapses becomes a candidate, raises its term, votes for itself and requests votes', () => {
  const a = buildNode(1, [1, 2, 3], plainRaft, { logTerms: [1, 1], term: 1, commit: 2 });
  let ticks = 0;
  let out: Message[] = [];
  while (a.stateType() === 'follower' && ticks < 40) {
    a.tick();
    ticks++;
    out = drainNode(a);
  }
  assert.is(a.stateType(), 'candidate');
  assert.ok(ticks >= 10 && ticks < 20, `timed out after ${ticks} ticks, not in [electionTick, 2*electionTick)`);
  assert.is(a.raft.term, 2);
  assert.is(a.raft.vote, 1);
  const votes = ofType(out, MessageType.MsgVote);
  assert.equal(recipients(votes), [2, 3]);
  for (const v of votes) {
    assert.is(v.term, 2);
    assert.is(v.index, 2, 'lastLogIndex');
    assert.is(v.logTerm, 1, 'lastLogTerm');
  }
  assert.equal(a.raft.tracker.tallyVotes().granted, 1, 'its own vote counts once it is durable');
});

test('§5.2 a candidate wins with a majority of votes, loses to a majority of denials, else waits (1, 3, 5 nodes)', () => {
  const cases: { size: number; votes: Record<number, boolean>; want: string }[] = [
    { size: 1, votes: {}, want: 'leader' },
    { size: 3, votes: { 2: true, 3: true }, want: 'leader' },
    { size: 3, votes: { 2: true }, want: 'leader' },
    { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: 'leader' },
    { size: 5, votes: { 2: true, 3: true, 4: true }, want: 'leader' },
    { size: 5, votes: { 2: true, 3: true }, want: 'leader' },
    { size: 3, votes: { 2: false, 3: false }, want: 'follower' },
    { size: 5, votes: { 2: false, 3: false, 4: false, 5: false }, want: 'follower' },
    { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: 'follower' },
    { size: 3, votes: {}, want: 'candidate' },
    { size: 5, votes: { 2: true }, want: 'candidate' },
    { size: 5, votes: { 2: false, 3: false }, want: 'candidate' },
    { size: 5, votes: {}, want: 'candidate' },
    // A split vote: two granted, two denied, one not heard from.
    { size: 5, votes: { 2: true, 3: false, 4: false }, want: 'candidate' },
  ];
  for (const tc of cases) {
    const a = candidate(tc.size);
    for (const [from, granted] of Object.entries(tc.votes)) {
      a.step(voteResp(Number(from), 1, 1, granted));
      drainNode(a);
    }
    const why = `size ${tc.size}, votes ${JSON.stringify(tc.votes)}`;
    assert.is(a.stateType(), tc.want, why);
    assert.is(a.raft.term, 1, `${why}: term`);
  }
});

test('§5.2 a split vote times out and the candidate starts a new election at the next term', () => {
  const a = candidate(5);
  a.step(voteResp(2, 1, 1, true));
  a.step(voteResp(3, 1, 1, false));
  a.step(voteResp(4, 1, 1, false));
  drainNode(a);
  assert.is(a.stateType(), 'candidate');
  let out: Message[] = [];
  for (let i = 0; i < 20 && a.raft.term === 1; i++) {
    a.tick();
    out = drainNode(a);
  }
  assert.is(a.stateType(), 'candidate');
  assert.is(a.raft.term, 2);
  assert.equal(recipients(ofType(out, MessageType.MsgVote)), [2, 3, 4, 5]);
});

test('§5.2 a follower grants one vote per term: to the first candidate, again to it, never to another', () => {
  const cases: { vote: number; from: number; reject: boolean }[] = [
    { vote: 0, from: 2, reject: false },
    { vote: 0, from: 3, reject: false },
    { vote: 2, from: 2, reject: false },
    { vote: 3, from: 3, reject: false },
    { vote: 2, from: 3, reject: true },
    { vote: 3, from: 2, reject: true },
  ];
  for (const tc of cases) {
    const a = buildNode(1, [1, 2, 3], plainRaft, { term: 1, vote: tc.vote });
    a.step(message({ type: MessageType.MsgVote, from: tc.from, to: 1, term: 1 }));
    const out = drainNode(a);
    const why = `voted for ${tc.vote}, request from ${tc.from}`;
    assert.equal(
      out.map((m) => ({ type: m.type, to: m.to, term: m.term, reject: m.reject })),
      [{ type: MessageType.MsgVoteResp, to: tc.from, term: 1, reject: tc.reject }],
      why,
    );
    assert.is(a.raft.vote, tc.vote === 0 ? tc.from : tc.vote, `${why}: recorded vote`);
  }
  // And the sequence: grants A, rejects B, grants A again, all in one term.
  const a = buildNode(1, [1, 2, 3], plainRaft, { term: 1 });
  const ask = (from: number) => {
    a.step(message({ type: MessageType.MsgVote, from, to: 1, term: 1 }));
    return drainNode(a).map((m) => m.reject);
  };
  assert.equal([ask(2), ask(3), ask(2)], [[false], [true], [false]]);
  assert.is(a.raft.hardState().vote, 2);
});

test('§5.2 a candidate that hears from a leader of its term (or later) becomes its follower', () => {
  const cases = [
    { type: MessageType.MsgApp, termDelta: 0 },
    { type: MessageType.MsgApp, termDelta: 1 },
    { type: MessageType.MsgHeartbeat, termDelta: 0 },
    { type: MessageType.MsgHeartbeat, termDelta: 1 },
  ];
  for (const tc of cases) {
    const a = candidate(3);
    const term = a.raft.term + tc.termDelta;
    a.step(message({ type: tc.type, from: 2, to: 1, term }));
    drainNode(a);
    const why = `type ${tc.type} at candidate term + ${tc.termDelta}`;
    assert.is(a.stateType(), 'follower', why);
    assert.is(a.raft.term, term, why);
    assert.is(a.raft.lead, 2, why);
  }
});

test('§5.2 election timeouts are randomized over [electionTick, 2*electionTick) for followers and candidates', () => {
  const et = 10;
  const followerTimeouts = new Set<number>();
  const candidateTimeouts = new Set<number>();
  for (let seed = 1; seed <= 300; seed++) {
    const a = buildNode(1, [1, 2, 3], plainRaft, { seed });
    let ticks = 0;
    while (a.stateType() === 'follower') {
      a.tick();
      drainNode(a);
      ticks++;
      if (ticks > 2 * et) break;
    }
    followerTimeouts.add(ticks);
    const term = a.raft.term;
    ticks = 0;
    while (a.raft.term === term) {
      a.tick();
      drainNode(a);
      ticks++;
      if (ticks > 2 * et) break;
    }
    candidateTimeouts.add(ticks);
  }
  const range = Array.from({ length: et }, (_, i) => et + i);
  assert.equal([...followerTimeouts].sort((x, y) => x - y), range, 'followers');
  assert.equal([...candidateTimeouts].sort((x, y) => x - y), range, 'candidates');
});

test('§5.2 in a cluster started together, usually a single node times out first', () => {
  for (const size of [3, 5]) {
    const rounds = 300;
    let conflicts = 0;
    for (let r = 0; r < rounds; r++) {
      const ids = Array.from({ length: size }, (_, i) => i + 1);
      const nodes = ids.map((id) => buildNode(id, ids, plainRaft, { seed: r * 100 + id }));
      let first: NodeActor[] = [];
      for (let t = 0; t < 40 && first.length === 0; t++) {
        for (const n of nodes) n.tick();
        first = nodes.filter((n) => n.stateType() !== 'follower');
      }
      assert.ok(first.length > 0);
      if (first.length > 1) conflicts++;
    }
    assert.ok(conflicts / rounds <= 0.3, `${size} nodes: ${conflicts} of ${rounds} rounds had several nodes time out at once`);
  }
});

// ----- §5.3 log replication -----

test('§5.3 the leader appends a proposal, replicates it, commits it on a majority, and followers learn the commit', () => {
  const c = clusterWithLeader(3);
  const leader = c.node(1);
  const li = leader.raft.log.lastIndex();
  const out = leader.proposeData([bytes('some data')]);
  assert.equal(out, { kind: 'appended', index: li + 1, term: 1, count: 1 });
  const sent = c.drain(1);
  const apps = ofType(sent, MessageType.MsgApp);
  assert.equal(recipients(apps), [2, 3]);
  for (const m of apps) {
    assert.is(m.index, li, 'prevLogIndex');
    assert.is(m.logTerm, 1, 'prevLogTerm');
    assert.is(m.commit, li);
    assert.equal(
      m.entries.map((e) => ({ index: e.index, term: e.term, data: text(e.data) })),
      [{ index: li + 1, term: 1, data: 'some data' }],
    );
  }
  assert.is(leader.raft.log.committed, li, 'not committed before a majority acks');
  c.deliver(sent);
  assert.is(leader.raft.log.committed, li + 1, 'committed on the leader');
  for (const id of [1, 2, 3]) {
    assert.is(c.node(id).raft.log.committed, li + 1, `node ${id} learned the commit`);
    const applied = c.applied.get(id)!;
    assert.is(text(applied[applied.length - 1]!.data), 'some data', `node ${id} applied it`);
  }
});

test('§5.3 the leader commits an entry once a majority (itself included) acknowledges it (1, 3, 5 nodes)', () => {
  const cases: { size: number; acks: number[]; commits: boolean }[] = [
    { size: 1, acks: [], commits: true },
    { size: 3, acks: [], commits: false },
    { size: 3, acks: [2], commits: true },
    { size: 3, acks: [2, 3], commits: true },
    { size: 5, acks: [], commits: false },
    { size: 5, acks: [2], commits: false },
    { size: 5, acks: [2, 3], commits: true },
    { size: 5, acks: [2, 3, 4, 5], commits: true },
  ];
  for (const tc of cases) {
    const c = clusterWithLeader(tc.size);
    const leader = c.node(1);
    c.drop(() => true); // hold every message; acks are stepped by hand
    c.propose(1, 'x');
    const last = leader.raft.log.lastIndex();
    for (const from of tc.acks) c.stepRaw(message({ type: MessageType.MsgAppResp, from, to: 1, term: 1, index: last }));
    const why = `size ${tc.size}, acks ${JSON.stringify(tc.acks)}`;
    assert.is(leader.raft.log.committed, tc.commits ? last : last - 1, why);
  }
});

test('§5.3/§5.4.2 a new leader commits entries of earlier terms once an entry of its own term commits', () => {
  const logs = [[], [2], [1, 1], [1, 2], [1, 2, 2]];
  for (const terms of logs) {
    const a = buildNode(1, [1, 2, 3], plainRaft, { logTerms: terms, term: 2 });
    a.campaign();
    drainNode(a);
    a.step(voteResp(2, 1, 3, true));
    drainNode(a);
    assert.is(a.stateType(), 'leader', `log ${JSON.stringify(terms)}`);
    a.proposeData([bytes('new')]);
    const sent = drainNode(a);
    const last = a.raft.log.lastIndex();
    assert.is(last, terms.length + 2, 'no-op and proposal appended after the old entries');
    assert.is(a.raft.log.committed, 0);
    const applied: Entry[] = [];
    for (const m of ofType(sent, MessageType.MsgApp).filter((m) => m.to === 2)) {
      // The follower acknowledges each append in full (as one holding the leader's log would).
      a.step(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 3, index: m.index + m.entries.length }));
      drainNode(a, (ents) => applied.push(...ents));
    }
    a.step(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 3, index: last }));
    drainNode(a, (ents) => applied.push(...ents));
    assert.is(a.raft.log.committed, last, `log ${JSON.stringify(terms)}`);
    assert.equal(
      applied.map((e) => e.term),
      [...terms, 3, 3],
      `the earlier-term entries are applied before the new ones (log ${JSON.stringify(terms)})`,
    );
  }
});

test('§5.3 a follower rejects an append whose previous entry it lacks, with a hint where the logs may match', () => {
  // Follower log: [1:t1, 2:t2], entry 1 committed.
  const cases: { logTerm: number; index: number; wantIndex: number; reject: boolean; hint: number; hintTerm: number }[] = [
    { logTerm: 0, index: 0, wantIndex: 1, reject: false, hint: 0, hintTerm: 0 }, // matches committed entries
    { logTerm: 1, index: 1, wantIndex: 1, reject: false, hint: 0, hintTerm: 0 },
    { logTerm: 2, index: 2, wantIndex: 2, reject: false, hint: 0, hintTerm: 0 }, // matches an uncommitted entry
    { logTerm: 1, index: 2, wantIndex: 2, reject: true, hint: 1, hintTerm: 1 }, // term mismatch at index 2
    { logTerm: 3, index: 3, wantIndex: 3, reject: true, hint: 2, hintTerm: 2 }, // no entry 3 at all
  ];
  for (const tc of cases) {
    const a = buildNode(1, [1, 2, 3], plainRaft, { logTerms: [1, 2], term: 2, commit: 1 });
    a.step(message({ type: MessageType.MsgApp, from: 2, to: 1, term: 2, logTerm: tc.logTerm, index: tc.index, commit: 1 }));
    const out = drainNode(a);
    const why = JSON.stringify(tc);
    assert.equal(
      out.map((m) => ({ type: m.type, to: m.to, term: m.term, index: m.index, reject: m.reject, hint: m.rejectHint, hintTerm: tc.reject ? m.logTerm : 0 })),
      [{ type: MessageType.MsgAppResp, to: 2, term: 2, index: tc.wantIndex, reject: tc.reject, hint: tc.hint, hintTerm: tc.hintTerm }],
      why,
    );
    assert.equal(logTerms(a), [1, 2], `${why}: log unchanged`);
  }
});

test('§5.3 a follower deletes its log from the first conflicting entry and appends the leader\'s entries', () => {
  const cases: { index: number; logTerm: number; ents: [number, number][]; want: number[] }[] = [
    { index: 2, logTerm: 2, ents: [[3, 3]], want: [1, 2, 3] }, // extends
    { index: 1, logTerm: 1, ents: [[2, 3], [3, 4]], want: [1, 3, 4] }, // conflict at 2
    { index: 0, logTerm: 0, ents: [[1, 1]], want: [1, 2] }, // already has it: keeps the rest
    { index: 0, logTerm: 0, ents: [[1, 3]], want: [3] }, // conflict at 1
  ];
  for (const tc of cases) {
    const a = buildNode(1, [1, 2, 3], plainRaft, { logTerms: [1, 2], term: 2 });
    const entries: Entry[] = tc.ents.map(([index, term]) => ({ index, term, type: 0, data: bytes(`new ${index}`) }));
    a.step(message({ type: MessageType.MsgApp, from: 2, to: 1, term: 4, index: tc.index, logTerm: tc.logTerm, entries }));
    const out = drainNode(a);
    const why = JSON.stringify(tc);
    assert.equal(logTerms(a), tc.want, why);
    assert.is(out.length, 1, why);
    assert.is(out[0]!.reject, false, why);
    assert.is(out[0]!.index, tc.index + tc.ents.length, `${why}: acks the last new entry`);
  }
});

test('§5.3 Figure 7: a new leader brings followers (a)–(f) to its own log', () => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, log] of Object.entries(followers)) {
    const c = new Cluster(3, plainRaft, {
      1: { logTerms: leaderLog, term: 8, commit: leaderLog.length },
      2: { logTerms: log, term: 7 },
    });
    c.isolate(3); // node 3 votes but is otherwise absent
    c.campaign(1);
    // Node 3 grants its vote (follower (d) has a newer log and refuses).
    c.stepRaw(voteResp(3, 1, 9, true));
    c.settle([1]);
    assert.is(c.state(1), 'leader', `(${name}) leader elected`);
    c.propose(1, 'after the election');
    c.tick(1, 3);
    assert.equal(logTerms(c.node(2)), logTerms(c.node(1)), `(${name}) follower log equals the leader's`);
    assert.equal(logTerms(c.node(1)), [...leaderLog, 9, 9], `(${name}) leader log unchanged except the new entries`);
    assert.is(c.node(2).raft.log.committed, leaderLog.length + 2, `(${name}) follower learned the commit`);
  }
});

// ----- §5.4 safety -----

test('§5.4.2 Figure 8: earlier-term entries are not committed by counting replicas, only with an entry of the current term', () => {
  // Node 1 led term 2 and replicated index 2 only to node 2; it is now elected at term 4 (after
  // some node 5 led term 3 and wrote an entry nobody else has). The entry at index 2 (term 2)
  // reaches a majority, yet it must not count as committed: node 5 could still be elected and
  // overwrite it (Figure 8 (c)–(d)). Only when an entry of term 4 is on a majority does it commit.
  const ids = [1, 2, 3, 4, 5];
  const a = buildNode(1, ids, { ...plainRaft, maxSizePerMsg: 1 }, { logTerms: [1, 2], term: 3 });
  a.campaign();
  drainNode(a);
  assert.is(a.raft.term, 4);
  a.step(voteResp(2, 1, 4, true));
  a.step(voteResp(3, 1, 4, true));
  drainNode(a);
  assert.is(a.stateType(), 'leader');
  const noopIndex = a.raft.log.lastIndex();
  assert.equal(logTerms(a), [1, 2, 4]);
  // Nodes 2 and 3 acknowledge index 2: with the leader that is 3 of 5 replicas.
  for (const from of [2, 3]) a.step(message({ type: MessageType.MsgAppResp, from, to: 1, term: 4, index: 2 }));
  drainNode(a);
  assert.is(a.raft.log.committed, 0, 'index 2 (term 2) is on a majority but not committed');
  // A single follower acking the term-4 entry is not enough either.
  a.step(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 4, index: noopIndex }));
  drainNode(a);
  assert.is(a.raft.log.committed, 0, 'the term-4 entry is on 2 of 5');
  // The second ack puts the term-4 entry on a majority: it and everything before it commit.
  const applied: Entry[] = [];
  a.step(message({ type: MessageType.MsgAppResp, from: 3, to: 1, term: 4, index: noopIndex }));
  drainNode(a, (ents) => applied.push(...ents));
  assert.is(a.raft.log.committed, noopIndex);
  assert.equal(applied.map((e) => [e.index, e.term]), [[1, 1], [2, 2], [3, 4]]);
});

test('§5.4.2 Figure 8 played out: an entry on a majority from an earlier term can be overwritten, so it was never committed', () => {
  // The same story with a whole cluster: node 5 (log ending in term 3) can still win against the
  // replicas of the term-2 entry, and replaces it. No node ever applies the overwritten entry.
  const cfg = { ...plainRaft, maxSizePerMsg: 1 }; // one entry per append, so index 2 travels alone
  const c = new Cluster(5, cfg, {
    1: { logTerms: [1, 2], term: 3 },
    2: { logTerms: [1, 2], term: 3 },
    3: { logTerms: [1], term: 3 },
    4: { logTerms: [1], term: 3 },
    5: { logTerms: [1, 3], term: 3 },
  });
  // Node 1 becomes leader at term 4 with the votes of 2 and 3; index 2 reaches node 3, but every
  // append that a follower would accept with a term-4 entry in it is lost.
  c.isolate(4);
  c.isolate(5);
  c.drop(
    (m) =>
      m.type === MessageType.MsgApp &&
      m.entries.some((e) => e.term === 4) &&
      c.node(m.to).raft.log.matchTerm(m.index, m.logTerm),
  );
  c.campaign(1);
  assert.is(c.state(1), 'leader');
  assert.is(c.term(1), 4);
  c.tick(1, 3);
  const t = c.term(1);
  assert.equal(logTerms(c.node(3)).slice(0, 2), [1, 2], 'index 2 (term 2) is now on nodes 1, 2 and 3');
  assert.is(c.node(1).raft.log.committed, 0, 'yet the leader has not committed it');
  // Node 1 crashes; node 5 campaigns. Its last term (3) beats term 2, so 2, 3 and 4 vote for it.
  c.heal();
  c.isolate(1);
  for (let i = 0; i < 3 && c.state(5) !== 'leader'; i++) c.campaign(5);
  assert.is(c.state(5), 'leader');
  assert.ok(c.term(5) > t);
  c.propose(5, 'from node 5');
  for (const id of [2, 3, 4, 5]) {
    assert.is(logTerms(c.node(id))[1], 3, `node ${id}: index 2 now holds node 5's term-3 entry`);
    assert.ok(c.applied.get(id)!.every((e) => !(e.index === 2 && e.term === 2)), `node ${id} never applied the term-2 entry`);
  }
});

test('§5.4.1 a vote is denied to a candidate whose log is less up-to-date', () => {
  // Voter log, candidate (lastLogTerm, lastLogIndex), expected rejection.
  const cases: { log: number[]; logTerm: number; index: number; reject: boolean }[] = [
    // same last term: the longer log wins
    { log: [1], logTerm: 1, index: 1, reject: false },
    { log: [1], logTerm: 1, index: 2, reject: false },
    { log: [1, 1], logTerm: 1, index: 1, reject: true },
    // the candidate's last term is later
    { log: [1], logTerm: 2, index: 1, reject: false },
    { log: [1], logTerm: 2, index: 2, reject: false },
    { log: [1, 1], logTerm: 2, index: 1, reject: false },
    // the voter's last term is later
    { log: [2], logTerm: 1, index: 1, reject: true },
    { log: [2], logTerm: 1, index: 2, reject: true },
    { log: [2, 1], logTerm: 1, index: 1, reject: true },
    { log: [1, 2], logTerm: 1, index: 5, reject: true },
    // an empty voter log grants any candidate
    { log: [], logTerm: 0, index: 0, reject: false },
  ];
  for (const tc of cases) {
    const a = buildNode(1, [1, 2, 3], plainRaft, { logTerms: tc.log, term: 2 });
    a.step(message({ type: MessageType.MsgVote, from: 2, to: 1, term: 3, logTerm: tc.logTerm, index: tc.index }));
    const out = drainNode(a);
    const why = `voter ${JSON.stringify(tc.log)}, candidate last (${tc.index}, t${tc.logTerm})`;
    assert.equal(
      out.map((m) => ({ type: m.type, term: m.term, reject: m.reject })),
      [{ type: MessageType.MsgVoteResp, term: 3, reject: tc.reject }],
      why,
    );
    assert.is(a.raft.term, 3, `${why}: the voter adopts the term either way`);
    assert.is(a.raft.vote, tc.reject ? 0 : 2, `${why}: vote`);
  }
});

test('§5.3 a new leader initializes nextIndex to its last index + 1 and probes there', () => {
  const a = buildNode(1, [1, 2, 3], plainRaft, { logTerms: [1, 1, 2, 2, 2], term: 2, commit: 5 });
  a.campaign();
  drainNode(a);
  a.step(voteResp(2, 1, 3, true));
  const apps = drainNode(a).filter((m) => m.type === MessageType.MsgApp);
  assert.is(a.stateType(), 'leader');
  assert.equal(apps.map((m) => m.to).sort(), [2, 3]);
  for (const m of apps) {
    assert.is(m.index, 5, "prevLogIndex is the leader's last index before its no-op");
    assert.is(m.logTerm, 2);
    assert.equal(m.entries.map((e) => [e.index, e.term]), [[6, 3]], 'only the no-op is sent');
  }
});

test('a new leader with a compacted log does not send snapshots to followers it knows nothing about yet', () => {
  const ids = [1, 2, 3];
  const stable = new MemoryStorage();
  stable.appendSync(entriesWithTerms([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
  stable.createSnapshotSync(5, { voters: ids, learners: [] }, new Uint8Array([9]));
  stable.compactSync(5);
  const hs = { term: 1, vote: 0, commit: 10 };
  stable.writeSync({ hardState: hs });
  const a = new NodeActor({ config: configFor(1, ids, plainRaft), stable, hardState: hs, confState: { voters: ids, learners: [] } });
  a.campaign();
  drainNode(a);
  a.step(voteResp(2, 1, 2, true));
  const out = drainNode(a);
  assert.is(a.stateType(), 'leader');
  assert.equal(out.filter((m) => m.type === MessageType.MsgSnap), []);
  assert.equal(out.filter((m) => m.type === MessageType.MsgApp).map((m) => m.index), [10, 10]);
});

test.run();
