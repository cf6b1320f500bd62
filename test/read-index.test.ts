/**
 * ReadIndex (thesis §6.4): a read barrier is confirmed only by a leader that a majority still
 * follows, at an index that covers every write committed before the read was asked for.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Simulation } from '../src/sim/simulation.ts';

const enc = new TextEncoder();
const ctx = (s: string) => enc.encode(s);

function stableCluster(seed: number, nodes = 3): Simulation {
  const sim = new Simulation({ seed, nodes, network: { delay: [1, 3] } });
  assert.ok(sim.runUntil((s) => s.leader() !== undefined, 100), 'a leader is elected');
  const leader = sim.leader()!;
  for (let i = 0; i < 5; i++) sim.propose(leader, enc.encode(`w${i}`));
  const last = sim.status(leader).lastIndex;
  assert.ok(sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= last), 50), 'writes are applied');
  return sim;
}

test('the leader confirms a read at its commit index after a heartbeat round', () => {
  const sim = stableCluster(1);
  const leader = sim.leader()!;
  const commit = sim.status(leader).commit;
  assert.is(sim.readIndex(leader, ctx('r1')), undefined);
  assert.ok(sim.runUntil((s) => s.reads(leader).length === 1, 20));
  const r = sim.reads(leader)[0]!;
  assert.is(r.index, commit);
  assert.equal([...r.context], [...ctx('r1')]);
});

test('a follower gets a read index from the leader that covers the writes committed before it asked', () => {
  const sim = stableCluster(2);
  const leader = sim.leader()!;
  const follower = sim.ids.find((id) => id !== leader)!;
  const out = sim.propose(leader, enc.encode('latest'));
  assert.is(out.kind, 'appended');
  assert.ok(sim.runUntil((s) => s.status(leader).commit >= (out as { index: number }).index, 20));
  assert.is(sim.readIndex(follower, ctx('f1')), undefined);
  assert.ok(sim.runUntil((s) => s.reads(follower).length === 1, 20));
  assert.ok(sim.reads(follower)[0]!.index >= (out as { index: number }).index);
});

test('a leader cut off from the majority never confirms a read', () => {
  const sim = stableCluster(3, 5);
  const leader = sim.leader()!;
  sim.isolate(leader);
  sim.readIndex(leader, ctx('stale'));
  sim.runFor(40);
  assert.is(sim.reads(leader).length, 0, 'a deposed leader could otherwise serve stale data');
});

test('a node without a known leader refuses at once', () => {
  const sim = new Simulation({ seed: 4, nodes: 3 });
  assert.match(sim.readIndex(1, ctx('x')) ?? '', /no leader/);
});

test('a single-node cluster confirms reads at once', () => {
  const sim = new Simulation({ seed: 5, nodes: 1 });
  // Leader, with its no-op (after the bootstrap entry) committed and applied.
  assert.ok(sim.runUntil((s) => s.leader() === 1 && s.status(1).applied === s.status(1).lastIndex && s.status(1).lastIndex >= 2, 50));
  const at = sim.now;
  sim.readIndex(1, ctx('solo'));
  sim.advance(0); // the end of this turn, when the host loop takes the Ready
  assert.is(sim.reads(1).length, 1);
  assert.is(sim.now, at, 'no time passed');
});

test.run();
