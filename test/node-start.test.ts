/**
 * Starting a node the way the README does: `start({ waitForLeader: true })` resolves only once a
 * leader is known, so the first proposal succeeds; `waitForLeader()` gives up on stop or abort; the
 * `inspect` option takes an observer object (what `@statelyai/inspect` hands out) as well as a
 * function. Real nodes on loopback TCP, in memory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type InspectionEvent } from 'xstate';
import { type NodeOptions, RaftNode, createNode } from '../src/actors/raft-node.ts';
import { StoppedError } from '../src/errors.ts';
import type { StateMachine } from '../src/state-machine.ts';
import { freePorts, settleWithin } from './fixtures/free-ports.ts';

class Counter implements StateMachine<number> {
  total = 0;
  apply(data: Uint8Array): number {
    return (this.total += data[0]!);
  }
  snapshot(): Uint8Array {
    return Uint8Array.of(this.total);
  }
  restore(data: Uint8Array): void {
    this.total = data[0]!;
  }
}

async function threeMembers(options: Partial<NodeOptions> = {}): Promise<RaftNode<number>[]> {
  const ports = await freePorts(3);
  const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
  return peers.map(({ id }) => createNode({ nodeId: id, peers, tickInterval: 20 }, new Counter(), { secret: 'node-start-test secret, 128+ bits', ...options }));
}

test('start({ waitForLeader: true }) resolves with a leader known, and the first proposal succeeds at once', async () => {
  const nodes = await threeMembers();
  try {
    await Promise.all(nodes.map((n) => n.start({ waitForLeader: true, signal: AbortSignal.timeout(10_000) })));
    for (const n of nodes) assert.ok(n.leader() !== 0, `node ${n.id} knows no leader after start({ waitForLeader: true })`);
    const r = await nodes[2]!.propose(Uint8Array.of(5), { signal: AbortSignal.timeout(5000) });
    assert.is(r.result, 5);
    assert.is(await nodes[0]!.waitForLeader(), nodes[0]!.leader(), 'a known leader is returned at once');
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
});

test('waitForLeader() rejects with StoppedError when the node stops first, and with the reason on abort', async () => {
  const [alone] = await threeMembers(); // one member of three: never a majority, never a leader
  await alone!.start();
  try {
    const aborted = await settleWithin(alone!.waitForLeader({ signal: AbortSignal.timeout(100) }), 5000);
    assert.is(aborted.status, 'rejected');
    assert.is((aborted as { reason: Error }).reason.name, 'TimeoutError');
    const waiting = settleWithin(alone!.waitForLeader(), 5000);
    await alone!.stop();
    const stopped = await waiting;
    assert.is(stopped.status, 'rejected');
    assert.instance((stopped as { reason: unknown }).reason, StoppedError);
  } finally {
    await alone!.stop();
  }
});

const inspectors: [string, (seen: InspectionEvent[]) => NodeOptions['inspect']][] = [
  ['a function', (seen) => (e: InspectionEvent) => seen.push(e)],
  ['an observer object ({ next }, as @statelyai/inspect hands out)', (seen) => ({ next: (e: InspectionEvent) => seen.push(e) })],
];
for (const [kind, make] of inspectors) {
  test(`the inspect option takes ${kind} and sees the role actor`, async () => {
    const seen: InspectionEvent[] = [];
    const [port] = await freePorts(1);
    const node = createNode({ nodeId: 1, peers: [{ id: 1, address: `127.0.0.1:${port}` }], tickInterval: 10 }, new Counter(), { inspect: make(seen) });
    try {
      await node.start({ waitForLeader: true, signal: AbortSignal.timeout(10_000) });
      const ids = new Set(seen.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as unknown as { id: string }).id));
      assert.ok(ids.has('node-1'), [...ids].join(', '));
      assert.ok(seen.some((e) => e.type === '@xstate.snapshot'), 'snapshots inspected');
    } finally {
      await node.stop();
    }
  });
}

test.run();
