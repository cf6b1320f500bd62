/**
 * The node actor's Ready contract: what may leave at once, what waits for the disk, and what a
 * proposal learns at once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeActor } from '../src/actors/node-actor.ts';
import { resolveConfig } from '../src/config.ts';
import { MessageType, message } from '../src/raft/raftpb.ts';

const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));
const node = (id: number, extra: Record<string, unknown> = {}) =>
  new NodeActor({ config: resolveConfig({ nodeId: id, peers, preVote: false, ...extra }), seed: id });
const data = (s: string) => new TextEncoder().encode(s);

test('a vote response waits until the vote is persisted', () => {
  const n = node(2);
  n.step(message({ type: MessageType.MsgVote, from: 1, to: 2, term: 1, index: 0, logTerm: 0 }));
  const rd = n.takeReady()!;
  assert.equal(rd.hardState, { term: 1, vote: 1, commit: 0 });
  assert.ok(rd.mustSync);
  assert.is(rd.messages.length, 0, 'nothing leaves before the vote is durable');
  assert.is(n.takeReady(), undefined);
  n.persisted(rd);
  const next = n.takeReady()!;
  assert.is(next.messages.length, 1);
  assert.is(next.messages[0]!.type, MessageType.MsgVoteResp);
  assert.is(next.messages[0]!.reject, false);
});

test('a candidate counts its own vote only once it is durable; the leader sends appends before its own write completes', () => {
  const n = node(1, { nodeId: 1 });
  n.campaign();
  const rd = n.takeReady()!;
  assert.is(rd.softState?.raftState, 'candidate');
  assert.equal(rd.messages.map((m) => [m.type, m.to]), [[MessageType.MsgVote, 2], [MessageType.MsgVote, 3]]);
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 1 }));
  assert.is(n.stateType(), 'candidate', 'one grant plus an unpersisted self-vote is not a majority');
  n.persisted(rd);
  assert.is(n.stateType(), 'leader');
  const lead = n.takeReady()!;
  assert.is(lead.entries.length, 1, 'the no-op entry of the new term');
  assert.ok(lead.messages.some((m) => m.type === MessageType.MsgApp && m.to === 2), 'appends go out while the leader writes');
});

test('an append ack waits for the appended entries to be durable', () => {
  const n = node(2);
  n.step(message({ type: MessageType.MsgApp, from: 1, to: 2, term: 1, index: 0, logTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 0, data: data('a') }] }));
  const rd = n.takeReady()!;
  assert.is(rd.entries.length, 1);
  assert.is(rd.messages.length, 0);
  // A duplicate append arrives while the write is in flight: its ack must wait for that write too.
  n.step(message({ type: MessageType.MsgApp, from: 1, to: 2, term: 1, index: 0, logTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 0, data: data('a') }] }));
  const rd2 = n.takeReady();
  assert.ok(rd2 === undefined || rd2.messages.length === 0);
  n.persisted(rd);
  const out = n.takeReady()!;
  assert.is(out.messages.filter((m) => m.type === MessageType.MsgAppResp && m.index === 1).length, 2);
});

test('proposals: appended on the leader with index and term; forwarded or refused on a follower', () => {
  const leader = node(1);
  leader.campaign();
  let rd = leader.takeReady()!;
  leader.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 1 }));
  leader.persisted(rd);
  rd = leader.takeReady()!;
  leader.persisted(rd);
  // Both followers ack the no-op: their replicators move from probe to replicate.
  for (const from of [2, 3]) leader.step(message({ type: MessageType.MsgAppResp, from, to: 1, term: 1, index: 1 }));
  leader.takeReady();
  const out = leader.proposeData([data('x'), data('y'), data('z')]);
  assert.equal(out, { kind: 'appended', index: 2, term: 1, count: 3 });
  rd = leader.takeReady()!;
  const apps = rd.messages.filter((m) => m.type === MessageType.MsgApp);
  assert.equal(apps.map((m) => [m.to, m.entries.length]), [[2, 3], [3, 3]], 'a batch proposed together travels together');

  const follower = node(2);
  assert.equal(follower.proposeData([data('x')]).kind, 'dropped', 'no leader known');
  follower.step(message({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1 }));
  assert.equal(follower.proposeData([data('x')]), { kind: 'forwarded', leader: 1 });
  const fwd = follower.takeReady()!.messages.find((m) => m.type === MessageType.MsgProp)!;
  assert.is(fwd.to, 1);

  const strict = node(3, { disableProposalForwarding: true });
  strict.step(message({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: 1 }));
  assert.equal(strict.proposeData([data('x')]), { kind: 'notLeader', leader: 1 });
});

test('ready$ emits every Ready handed out, in order, and completes on stop', () => {
  const n = node(1);
  const seen: number[] = [];
  let completed = false;
  n.ready$.subscribe({ next: (rd) => seen.push(rd.messages.length), complete: () => (completed = true) });
  n.campaign();
  const rd = n.takeReady()!;
  assert.equal(seen, [rd.messages.length]);
  n.stop();
  assert.ok(completed);
});

test('an inspector sees the role actor, its transitions and every replicator actor', () => {
  const actors = new Set<string>();
  const states: string[] = [];
  const n = new NodeActor({
    config: resolveConfig({ nodeId: 1, peers, preVote: false }),
    seed: 1,
    inspect: (ev) => {
      if (ev.type === '@xstate.actor') actors.add((ev.actorRef as unknown as { id: string }).id);
      if (ev.type === '@xstate.snapshot' && (ev.actorRef as unknown as { id: string }).id === 'node-1') states.push(String((ev.snapshot as { value?: unknown }).value));
    },
  });
  n.campaign();
  const rd = n.takeReady()!;
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 1 }));
  n.persisted(rd);
  assert.is(n.stateType(), 'leader');
  assert.ok(actors.has('node-1') && actors.has('replicator-2') && actors.has('replicator-3'), [...actors].join(', '));
  assert.ok(states.includes('candidate') && states.includes('leader'), states.join(' -> '));
});

test('a stopped node refuses input', () => {
  const n = node(1);
  n.stop();
  assert.throws(() => n.tick(), /stopped/);
  assert.is(n.takeReady(), undefined);
});

/** Node 1 elected leader of term 1 with its no-op durable and acknowledged by nobody yet. */
function leader(): NodeActor {
  const n = node(1, { nodeId: 1 });
  n.campaign();
  const rd = n.takeReady()!;
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 1 }));
  n.persisted(rd);
  n.persisted(n.takeReady()!);
  n.takeReady();
  return n;
}

test('results come back from the machine as events: the return values of propose, readIndex and transferLeadership', () => {
  const cases: [string, () => unknown, unknown][] = [
    ['a follower that knows no leader drops a proposal', () => node(2).propose([{ type: 0, data: data('x') }]), { kind: 'dropped', reason: 'no leader is known; the proposal was dropped' }],
    ['a leader appends a proposal after its no-op', () => leader().propose([{ type: 0, data: data('x') }, { type: 0, data: data('y') }]), { kind: 'appended', index: 2, term: 1, count: 2 }],
    ['a follower that knows no leader refuses a read', () => node(2).readIndex(data('r')), 'no leader is known; the read was dropped'],
    ['a leader starts a read', () => leader().readIndex(data('r')), undefined],
    ['a follower refuses a transfer', () => node(2).transferLeadership(3), 'no leader is known'],
    ['a leader refuses a transfer to a stranger', () => leader().transferLeadership(9), 'node 9 is not a voting member'],
    ['a leader starts a transfer to a voter', () => leader().transferLeadership(3), undefined],
  ];
  for (const [name, run, want] of cases) assert.equal(run(), want, name);
  const n = leader();
  assert.is(n.transferLeadership(9), 'node 9 is not a voting member');
  assert.is(n.transferLeadership(3), undefined, 'an earlier refusal does not leak into the next answer');
});

test('the leader learns match from its replicators: commit counting, progress and circuits come from them', () => {
  const n = leader();
  assert.equal([...n.progress().keys()].sort(), [1, 2, 3]);
  assert.equal(n.progress().get(2), { match: 0, next: 1, state: 'probe', recentActive: false, inflight: 0, circuit: 'closed' });
  assert.is(n.raft.log.committed, 0, 'the no-op is on one of three');
  n.step(message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: 1, index: 1 }));
  assert.is(n.raft.tracker.matchOf(2), 1, 'the replicator reported match');
  assert.is(n.raft.log.committed, 1, 'a majority holds the no-op: committed');
  assert.equal(n.progress().get(2), { match: 1, next: 2, state: 'replicate', recentActive: true, inflight: 0, circuit: 'closed' });
  assert.equal(n.progress().get(1)!.match, 1, 'the leader itself, from its durable append');

  const circuits: string[] = [];
  n.circuit$.subscribe((c) => circuits.push(`${c.peerId}:${c.state}`));
  // The transport keeps failing to reach node 3; time passes in ticks (no election: node 2 answers).
  for (let i = 0; i < 5; i++) {
    n.step(message({ type: MessageType.MsgUnreachable, from: 3, to: 1 }));
    for (let t = 0; t < 3; t++) {
      n.tick();
      n.step(message({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: 1 }));
    }
  }
  assert.is(n.circuitState(3), 'open');
  assert.is(n.progress().get(3)!.circuit, 'open');
  assert.equal(circuits, ['3:open']);
  n.takeReady();
  n.tick();
  assert.not.ok((n.takeReady()?.messages ?? []).some((m) => m.to === 3), 'nothing goes to node 3 while its circuit is open');
  n.peerReachable(3);
  assert.equal(circuits, ['3:open', '3:closed'], 'a reachable report closes it');
  assert.ok(n.takeReady()!.messages.some((m) => m.to === 3 && m.type === MessageType.MsgHeartbeat), 'and node 3 hears from the leader at once');
  assert.is(node(2).circuitState(3), 'closed', 'a follower holds nobody back');
});

test.run();
