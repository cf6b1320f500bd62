/**
 * Member identity (docs/membership.md): a node id that comes back with another data directory is
 * never counted, a first contact counts only once it is durable, a RemoveNode lets the id come back
 * with a new directory, an empty joining store does not vote before a leader spoke to it, and an
 * empty store founds a cluster only when a majority of the founders confirm.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeActor } from '../src/actors/node-actor.ts';
import { resolveConfig } from '../src/config.ts';
import { type PeerReport, PeerIdentities, bootstrapDecision } from '../src/raft/member-identity.ts';
import { ConfChangeType, MessageType, message } from '../src/raft/raftpb.ts';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const SELF = 'c'.repeat(32);
const OTHER = 'd'.repeat(32);
const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));
const config = (id: number) => resolveConfig({ nodeId: id, peers, preVote: false });

test('verdicts: accept the recorded directory, learn an unknown one, refuse another, notice being known as another', () => {
  const cases: [string, Record<number, string>, { incarnation: string; knowsYouAs?: string }, string][] = [
    ['recorded and equal', { 3: A }, { incarnation: A }, 'accept'],
    ['recorded, sender knows us as ourselves', { 3: A }, { incarnation: A, knowsYouAs: SELF }, 'accept'],
    ['never heard of', {}, { incarnation: A }, 'learn'],
    ['recorded, another directory', { 3: A }, { incarnation: B }, 'refuse'],
    ['sender knows us by another directory', { 3: A }, { incarnation: A, knowsYouAs: OTHER }, 'strangerHere'],
    ['sender unknown and knows us by another directory', {}, { incarnation: B, knowsYouAs: OTHER }, 'strangerHere'],
  ];
  for (const [name, recorded, sender, want] of cases) {
    const rec = Object.fromEntries(Object.entries(recorded).map(([id, inc]) => [id, { incarnation: inc, since: 5 }]));
    assert.is(new PeerIdentities(SELF, rec).verdict(3, sender).kind, want, name);
  }
});

test('a first contact is waited for until written; a RemoveNode above the record forgets it, one at or below does not', () => {
  const p = new PeerIdentities(SELF);
  p.learn(3, A, 10);
  assert.is(p.verdict(3, { incarnation: A }).kind, 'wait');
  assert.is(p.verdict(3, { incarnation: B }).kind, 'refuse', 'another directory is refused even before the first is durable');
  const { record, added } = p.takeUnwritten();
  assert.equal(record, { 3: { incarnation: A, since: 10 } });
  assert.is(p.verdict(3, { incarnation: A }).kind, 'wait');
  p.written(added);
  assert.is(p.verdict(3, { incarnation: A }).kind, 'accept');
  p.removed(3, 10);
  assert.is(p.verdict(3, { incarnation: B }).kind, 'refuse', 'a removal replayed from before the record keeps it');
  p.removed(3, 11);
  assert.is(p.verdict(3, { incarnation: B }).kind, 'learn', 'a removal after the record lets the id come back');
  assert.ok(p.hasUnwritten(), 'the forgetting is written too');
});

test('bootstrap decision: a majority of founders, each empty or knowing this very directory; refused when formed without it or known as another', () => {
  const founders = [1, 2, 3, 4, 5];
  const r = (pristine: boolean, knowsYouAs?: string): PeerReport => ({ incarnation: A, pristine, ...(knowsYouAs ? { knowsYouAs } : {}) });
  const cases: [string, [number, PeerReport][], string][] = [
    ['nobody answered yet', [], 'wait'],
    ['two empty peers: 3 of 5', [[2, r(true)], [3, r(true)]], 'bootstrap'],
    ['one empty peer: 2 of 5', [[2, r(true)]], 'wait'],
    ['a peer that met this directory before it bootstrapped', [[2, r(false, SELF)], [3, r(true)]], 'bootstrap'],
    ['a peer with state that never heard of it', [[2, r(true)], [3, r(false)]], 'refuse:alreadyFormed'],
    ['a peer that knows this id by another directory', [[2, r(true)], [3, r(true)], [4, r(false, OTHER)]], 'refuse:knownAsOther'],
  ];
  for (const [name, reports, want] of cases) {
    const d = bootstrapDecision(1, SELF, founders, new Map(reports));
    assert.is(d.kind === 'refuse' ? `refuse:${d.reason}` : d.kind, want, name);
  }
});

/** A node actor with a recorded peer 3 (directory A), its own directory SELF, and its first Ready taken. */
function member(): NodeActor {
  const n = new NodeActor({ config: config(1), bootstrap: 'log', incarnation: SELF, peerIncarnations: { 3: { incarnation: A, since: 0 } }, seed: 1 });
  for (let rd = n.takeReady(); rd; rd = n.takeReady()) {
    n.persisted(rd);
    if (rd.committedEntries.length) {
      for (const e of rd.committedEntries) n.applyConfChange({ type: ConfChangeType.AddNode, nodeId: e.index, context: new Uint8Array(0) }, e.index);
      n.applied(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
  }
  return n;
}

test('node actor: a vote from a node id that presents another directory is not counted, and the refusal is reported once', () => {
  const n = member();
  const refusals: unknown[] = [];
  n.refusals$.subscribe((r) => refusals.push(r));
  n.campaign();
  n.persisted(n.takeReady()!);
  const term = n.raft.term;
  const grant = message({ type: MessageType.MsgVoteResp, from: 3, to: 1, term });
  n.step(grant, { incarnation: B });
  n.step(grant, { incarnation: B });
  assert.is(n.stateType(), 'candidate', 'the wiped member 3 cannot make node 1 leader');
  assert.equal(refusals, [{ kind: 'peerHasNewDirectory', peer: 3, presented: B, recorded: A }]);
  n.step(grant, { incarnation: A });
  assert.is(n.stateType(), 'leader', 'the same vote from the recorded directory counts');
});

test('node actor: a first contact counts only after its record is durable', () => {
  const n = member();
  n.campaign();
  n.persisted(n.takeReady()!);
  const term = n.raft.term;
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term }), { incarnation: B });
  assert.is(n.stateType(), 'candidate', 'the first message of an unknown peer is not counted');
  const rd = n.takeReady()!;
  assert.equal(rd.peerIncarnations?.[2], { incarnation: B, since: 3 });
  assert.ok(rd.mustSync);
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term }), { incarnation: B });
  assert.is(n.stateType(), 'candidate', 'nor while its record is being written');
  n.persisted(rd);
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term }), { incarnation: B });
  assert.is(n.stateType(), 'leader');
});

test('node actor: a peer that knows this node by another directory is not listened to', () => {
  const n = member();
  const refusals: unknown[] = [];
  n.refusals$.subscribe((r) => refusals.push(r));
  n.step(message({ type: MessageType.MsgApp, from: 3, to: 1, term: 5, index: 3, logTerm: 1, commit: 3 }), { incarnation: A, knowsYouAs: OTHER });
  assert.is(n.raft.term, 1, 'its message had no effect');
  assert.equal(refusals, [{ kind: 'knownAsOther', peer: 3, knownAs: OTHER, self: SELF }]);
});

test('node actor: an empty joining store grants no vote until a leader spoke to it', () => {
  // No leader lease here: the vote request right after a heartbeat is to be judged on its own.
  const n = new NodeActor({ config: resolveConfig({ nodeId: 3, peers, preVote: false, checkQuorum: false }), bootstrap: 'log', join: true, incarnation: SELF, peerIncarnations: { 1: { incarnation: A, since: 0 } }, seed: 3 });
  const vote = (term: number) => message({ type: MessageType.MsgVote, from: 1, to: 3, term, index: 3, logTerm: 1 });
  n.step(vote(5), { incarnation: A });
  assert.is(n.raft.vote, 0, 'it might be a member that lost its disk and voted in term 5 before');
  n.step(message({ type: MessageType.MsgHeartbeat, from: 1, to: 3, term: 5 }), { incarnation: A });
  n.step(vote(6), { incarnation: A });
  assert.is(n.raft.vote, 1, 'a leader accepted it: it votes');
});

test('node actor: an empty store with founding "confirmed" waits for a majority, then bootstraps; a peer knowing it as another refuses it', () => {
  const fresh = () => new NodeActor({ config: config(1), bootstrap: 'log', founding: 'confirmed', incarnation: SELF, seed: 1 });
  const n = fresh();
  assert.ok(n.isAwaitingFounders());
  assert.is(n.raft.log.lastIndex(), 0);
  n.step(message({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 3 }));
  assert.is(n.raft.term, 0, 'not a member yet: nothing counts');
  n.peerReport(2, { incarnation: A, pristine: true });
  assert.not.ok(n.isAwaitingFounders());
  assert.is(n.raft.log.lastIndex(), 3, 'the founding AddNode entries');

  const m = fresh();
  const refusals: { kind: string }[] = [];
  m.refusals$.subscribe((r) => refusals.push(r));
  m.peerReport(3, { incarnation: A, pristine: false, knowsYouAs: OTHER });
  assert.ok(m.isAwaitingFounders(), 'never bootstraps');
  assert.is(m.raft.log.lastIndex(), 0);
  assert.equal(refusals.map((r) => r.kind), ['knownAsOther']);

  const late = fresh();
  late.peerReport(2, { incarnation: A, pristine: false });
  assert.not.ok(late.isAwaitingFounders(), 'formed without it: it joins');
  assert.is(late.raft.log.lastIndex(), 0, 'and founds nothing');
});

test.run();
