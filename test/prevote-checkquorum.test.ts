/**
 * PreVote (thesis §9.6) and CheckQuorum with its leader lease (thesis §6.2, §4.2.3): the rules that
 * keep a node that was cut off from disrupting a healthy cluster, and a leader that was cut off
 * from serving as if it still led.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType, message } from '../src/raft/raftpb.ts';
import { Simulation } from '../src/sim/simulation.ts';
import { Cluster, type TestConfig, electLeader, plainRaft } from './helpers/cluster-harness.ts';

const withPreVote: TestConfig = { ...plainRaft, preVote: true, checkQuorum: true };

test('PreVote: a partitioned node that rejoins neither raises the term nor deposes the leader', () => {
  const c = new Cluster(3, withPreVote);
  const term = electLeader(c, 1);
  c.isolate(3);
  // Node 3 times out again and again on its own side of the partition.
  c.tick(3, 100);
  assert.ok(c.state(3) === 'preCandidate' || c.state(3) === 'follower', `node 3 is ${c.state(3)}`);
  assert.is(c.term(3), term, 'pre-votes do not raise the partitioned node\'s term');
  // The leader keeps the majority side alive meanwhile.
  c.tickAll(5, [1, 2]);
  c.heal();
  // Node 3 may ask for pre-votes right after rejoining; the leader's next heartbeat brings it back.
  c.tick(3, 1);
  c.tick(1, 1);
  for (const id of [1, 2, 3]) assert.is(c.term(id), term, `node ${id} term unchanged`);
  assert.is(c.state(1), 'leader');
  assert.is(c.state(3), 'follower');
  assert.is(c.node(3).raft.lead, 1);
  c.propose(1, 'after the rejoin');
  assert.is(c.node(3).raft.log.committed, c.node(1).raft.log.lastIndex(), 'node 3 replicates again');
});

test('without PreVote the same rejoin raises the term and deposes the leader (the disruption PreVote prevents)', () => {
  const c = new Cluster(3, plainRaft);
  const term = electLeader(c, 1);
  c.isolate(3);
  c.tick(3, 100);
  assert.ok(c.term(3) > term + 2, `node 3 inflated its term to ${c.term(3)}`);
  c.heal();
  c.tick(3, 20); // its next election reaches the others
  for (const id of [1, 2]) assert.ok(c.term(id) > term + 2, `node ${id} adopted the inflated term (${c.term(id)})`);
  assert.ok(c.state(1) !== 'leader' || c.term(1) !== term, 'the old leadership ended');
});

test('CheckQuorum: a leader cut off from the majority steps down within two election timeouts', () => {
  // Table: cluster size, nodes cut off along with the leader.
  for (const [size, cutOff] of [
    [3, 0],
    [5, 0],
    [5, 1],
  ] as const) {
    const c = new Cluster(size, withPreVote);
    electLeader(c, 1);
    const minority = [1, ...(cutOff > 0 ? [2] : [])];
    for (const id of c.ids) {
      for (const other of c.ids) if (minority.includes(id) && !minority.includes(other)) c.cut(id, other);
    }
    let ticks = 0;
    while (c.state(1) === 'leader' && ticks < 2 * 10 + 5) {
      c.tickAll(1, minority);
      ticks++;
    }
    const why = `${size} nodes, leader cut off with ${cutOff} follower(s)`;
    assert.is(c.state(1), 'follower', why);
    assert.ok(ticks <= 2 * 10, `${why}: stepped down after ${ticks} ticks`);
    assert.is(c.node(1).raft.lead, 0, `${why}: it no longer names a leader`);
    const outcome = c.node(1).proposeData([new Uint8Array([1])]);
    assert.is(outcome.kind, 'dropped', `${why}: a proposal to the former leader is not taken`);
  }
  // And a leader that hears from a majority keeps leading.
  const c = new Cluster(5, withPreVote);
  electLeader(c, 1);
  c.isolate(4);
  c.isolate(5);
  c.tickAll(50, [1, 2, 3]);
  assert.is(c.state(1), 'leader', 'a leader with a quorum stays leader');
});

test('CheckQuorum in the simulation: the isolated leader steps down and the majority elects another', () => {
  for (const seed of [11, 12, 13]) {
    const sim = new Simulation({ seed, nodes: 5 });
    assert.ok(sim.runUntil((s) => s.leader() !== undefined, 100), `seed ${seed}: a leader`);
    const old = sim.leader()!;
    sim.isolate(old);
    const stepped = sim.runUntil((s) => s.status(old).role !== 'leader', 2 * 10);
    assert.ok(stepped, `seed ${seed}: leader ${old} still leads after two election timeouts`);
    assert.ok(
      sim.runUntil((s) => {
        const l = s.leader();
        return l !== undefined && l !== old;
      }, 100),
      `seed ${seed}: the majority elects a new leader`,
    );
  }
});

test('lease: followers that hear from a leader ignore vote requests; once it is silent they grant them', () => {
  for (const type of [MessageType.MsgVote, MessageType.MsgPreVote]) {
    const c = new Cluster(3, withPreVote);
    const term = electLeader(c, 1);
    c.tick(1, 1); // a heartbeat: node 2 has just heard from the leader
    const request = message({ type, from: 3, to: 2, term: term + 1, index: 10, logTerm: term });
    const out = c.stepRaw(request);
    assert.equal(out, [], `type ${type}: no answer within the lease`);
    assert.is(c.term(2), term, 'term unchanged');
    assert.is(c.node(2).raft.lead, 1, 'still follows the leader');
    // The leader itself ignores it too.
    assert.equal(c.stepRaw({ ...request, to: 1 }), []);
    assert.is(c.state(1), 'leader');
    // The leader goes silent for an election timeout (node 2 does not time out itself: it is
    // ticked past the lease only). Now the request is answered and granted.
    c.isolate(1);
    c.node(2).raft.randomizedElectionTimeout = 1000;
    c.tick(2, 10);
    const later = c.stepRaw(request);
    const respType = type === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
    assert.equal(
      later.map((m) => ({ type: m.type, to: m.to, reject: m.reject })),
      [{ type: respType, to: 3, reject: false }],
      `type ${type}: granted after the lease`,
    );
  }
});

test('campaign() starts an election at once, even on a follower that has a leader', () => {
  // Without PreVote: the node becomes a candidate at the next term right away and the cluster
  // moves past the old leader's term (CheckQuorum tells the old leader of the newer term).
  const c = new Cluster(3, { ...plainRaft, checkQuorum: true });
  const term = electLeader(c, 1);
  c.tick(1, 1);
  c.node(2).campaign();
  assert.is(c.state(2), 'candidate', 'campaign() needs no election timeout');
  assert.is(c.term(2), term + 1);
  c.deliver(c.drain(2));
  for (let i = 0; i < 10 && !(c.ids.some((id) => c.state(id) === 'leader' && c.term(id) > term)); i++) c.tickAll(5);
  const leader = c.ids.find((id) => c.state(id) === 'leader');
  assert.ok(leader !== undefined, 'a leader is elected');
  assert.ok(c.term(leader!) > term, 'at a later term than the old leader');

  // With PreVote (the default) the same campaign() only runs a pre-vote, which the leader and
  // the follower in their lease ignore: nothing is disrupted, and the next heartbeat brings the
  // node back as a follower.
  const p = new Cluster(3, withPreVote);
  const t1 = electLeader(p, 1);
  p.tick(1, 1);
  p.campaign(2);
  assert.is(p.state(2), 'preCandidate', 'campaign() starts at once (the pre-vote phase)');
  assert.is(p.term(2), t1, 'a pre-vote does not raise the term');
  p.tick(1, 1);
  assert.equal([p.state(1), p.state(2), p.term(1), p.term(2)], ['leader', 'follower', t1, t1]);

  // When the leader is gone, campaign() elects the node without waiting for its timeout; with
  // PreVote it runs the pre-vote phase first, then the real election.
  const d = new Cluster(3, withPreVote);
  const t2 = electLeader(d, 1);
  d.isolate(1);
  for (const id of [2, 3]) d.node(id).raft.randomizedElectionTimeout = 1000;
  d.tickAll(10, [2, 3]); // past the lease, well before any timeout of their own
  assert.is(d.state(2), 'follower');
  d.campaign(2);
  assert.is(d.state(2), 'leader');
  assert.is(d.term(2), t2 + 1, 'one term, no term spent on the pre-vote');
});

test.run();
