/**
 * Snapshots and compaction on the simulation (Raft §7): followers that fall behind the compacted
 * log catch up by snapshot, transfers survive crashes and loss, restarts replay only the tail, and
 * the persisted log stays bounded. Digests compare state machines: equal digest at equal applied
 * index means the same entries were applied in the same order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DigestStateMachine } from '../src/sim/digest-state-machine.ts';
import { Simulation } from '../src/sim/simulation.ts';
import { MessageType } from '../src/raft/raftpb.ts';

const enc = new TextEncoder();

function cluster(seed: number, extra: Partial<ConstructorParameters<typeof Simulation>[0]> = {}): Simulation {
  const sim = new Simulation({ seed, nodes: 3, network: { delay: [1, 4] }, config: { snapshotInterval: 50, snapshotCatchUpEntries: 10 }, ...extra });
  assert.ok(sim.runUntil((s) => s.leader() !== undefined, 200), 'a leader is elected');
  return sim;
}

function proposeMany(sim: Simulation, n: number, tag: string): void {
  for (let i = 0; i < n; i++) {
    const l = sim.leader();
    if (l !== undefined) sim.propose(l, enc.encode(`${tag}-${i}`));
    if (i % 10 === 9) sim.runFor(1);
  }
}

function converged(sim: Simulation, ids = sim.ids): boolean {
  const up = ids.filter((id) => sim.isUp(id));
  const states = new Set(up.map((id) => `${sim.status(id).applied}:${sim.digest(id)}`));
  return states.size === 1 && up.every((id) => sim.status(id).applied === sim.status(id).lastIndex);
}

test('a follower isolated while the leader compacts 10x snapshotInterval entries catches up by snapshot', () => {
  const sim = cluster(11);
  const leader = sim.leader()!;
  const lagging = sim.ids.find((id) => id !== leader)!;
  sim.isolate(lagging);
  proposeMany(sim, 500, 'iso');
  sim.runFor(20);
  const l = sim.node(sim.leader()!)!.raft.log;
  assert.ok(l.firstIndex() > sim.status(lagging).lastIndex + 1, 'the entries the follower needs were compacted');
  sim.heal();
  assert.ok(sim.runUntil((s) => converged(s), 300), 'all nodes apply the same state');
  assert.ok(sim.snapshotsSent(sim.leader()!) >= 1, 'caught up by snapshot, not by log');
});

test('a snapshot transfer interrupted by crashes of either side and by message loss still converges', () => {
  // 200 KiB snapshots in 4 KiB chunks: a transfer spans many messages and many ticks.
  const sim = cluster(12, {
    config: { snapshotInterval: 40, snapshotCatchUpEntries: 5, maxSizePerMsg: 4096 },
    stateMachine: () => new DigestStateMachine(200 * 1024),
    network: { delay: [2, 6], dropRate: 0.05 },
  });
  const leader = sim.leader()!;
  const lagging = sim.ids.find((id) => id !== leader)!;
  sim.crash(lagging);
  proposeMany(sim, 200, 'pre');
  sim.runFor(10);
  sim.restart(lagging);
  // Crash the follower in the middle of the transfer, then the leader.
  assert.ok(sim.runUntil((s) => s.node(lagging)?.raft !== undefined && (s.node(lagging)!.raft as unknown as { incomingSnapshot?: { received: number } }).incomingSnapshot !== undefined, 100), 'a transfer starts');
  sim.runFor(2);
  sim.crash(lagging);
  sim.runFor(5);
  sim.restart(lagging);
  sim.runFor(3);
  const oldLeader = sim.leader()!;
  sim.crash(oldLeader);
  assert.ok(sim.runUntil((s) => s.leader() !== undefined && s.leader() !== oldLeader, 200), 'a new leader');
  proposeMany(sim, 100, 'post');
  sim.restart(oldLeader);
  sim.setNetwork({ dropRate: 0 });
  assert.ok(sim.runUntil((s) => converged(s), 800), `converged: ${JSON.stringify(sim.ids.map((id) => sim.status(id)))}`);
});

test('no snapshot message is larger than maxSizePerMsg (a large state travels in chunks)', () => {
  let largest = 0;
  let chunks = 0;
  const sim = cluster(13, { config: { snapshotInterval: 30, snapshotCatchUpEntries: 0, maxSizePerMsg: 8192 }, stateMachine: () => new DigestStateMachine(100 * 1024) });
  const leader = sim.leader()!;
  const lagging = sim.ids.find((id) => id !== leader)!;
  sim.isolate(lagging);
  proposeMany(sim, 100, 'x');
  sim.runFor(5);
  const actor = sim.node(lagging)!;
  const step = actor.step.bind(actor);
  actor.step = (m) => {
    if (m.type === MessageType.MsgSnap) {
      chunks++;
      largest = Math.max(largest, m.snapshot!.data.byteLength);
    }
    step(m);
  };
  sim.heal();
  assert.ok(sim.runUntil((s) => converged(s), 300));
  assert.ok(chunks >= 13, `${chunks} chunks`);
  assert.ok(largest <= 8192, `largest chunk ${largest} bytes`);
});

test('crash and restart of every node after compaction loses nothing committed', () => {
  const sim = cluster(14);
  proposeMany(sim, 300, 'c');
  assert.ok(sim.runUntil((s) => converged(s), 100));
  const before = sim.ids.map((id) => ({ applied: sim.status(id).applied, digest: sim.digest(id) }));
  for (const id of sim.ids) sim.crash(id);
  for (const id of sim.ids) sim.restart(id);
  for (const id of sim.ids) {
    const st = sim.status(id);
    assert.ok(sim.node(id)!.raft.log.firstIndex() > 1, 'restarted from a snapshot, not from index 1');
    assert.ok(st.lastIndex >= before[0]!.applied, 'the log tail survived');
  }
  assert.ok(sim.runUntil((s) => s.leader() !== undefined && converged(s) && s.status(s.ids[0]!).applied >= before[0]!.applied, 300));
  assert.is(new Set(sim.ids.map((id) => sim.digest(id))).size, 1, 'one state everywhere');
  assert.ok(before.every((b) => b.applied <= sim.status(1).applied));
});

test('all servers crash repeatedly and the log index keeps increasing', () => {
  const sim = cluster(15, { config: { snapshotInterval: 25, snapshotCatchUpEntries: 5 } });
  let lastCommit = 0;
  for (let round = 0; round < 8; round++) {
    proposeMany(sim, 30, `r${round}`);
    sim.runFor(10);
    const commit = Math.max(...sim.ids.map((id) => sim.status(id).commit));
    assert.ok(commit > lastCommit, `round ${round}: commit ${commit} after ${lastCommit}`);
    lastCommit = commit;
    for (const id of sim.ids) sim.crash(id);
    for (const id of sim.ids) sim.restart(id);
    assert.ok(sim.runUntil((s) => s.leader() !== undefined, 300), `round ${round}: a leader after restart`);
  }
  assert.ok(sim.runUntil((s) => converged(s), 200));
});

test('the persisted log stays bounded while proposals continue', () => {
  const sim = cluster(16, { config: { snapshotInterval: 50, snapshotCatchUpEntries: 10 } });
  const sizes: number[] = [];
  const snapshotSizes: number[] = [];
  for (let round = 0; round < 10; round++) {
    proposeMany(sim, 100, `b${round}`);
    sim.runFor(10);
    sizes.push(Math.max(...sim.ids.map((id) => sim.logBytes(id).byteLength)));
    snapshotSizes.push(Math.max(...sim.ids.map((id) => sim.snapshotBytes(id).byteLength)));
  }
  const entriesOnDisk = Math.max(...sim.ids.map((id) => sim.disk(id).durable.lastIndexSync() - sim.disk(id).durable.firstIndexSync() + 1));
  assert.ok(entriesOnDisk < 200, `${entriesOnDisk} entries on disk after 1,000 proposals`);
  assert.ok(sizes[9]! < sizes[2]! * 2, `log bytes stay flat: ${sizes.join(', ')}`);
  // The digest state machine's snapshot has a fixed size: the snapshot on disk does not grow either.
  assert.ok(snapshotSizes[9]! > 0 && snapshotSizes[9]! <= snapshotSizes[2]! + 16, `snapshot bytes stay flat: ${snapshotSizes.join(', ')}`);
});

test('a follower crashed while the others commit and snapshot rejoins and converges', () => {
  const sim = cluster(17);
  const leader = sim.leader()!;
  const f = sim.ids.find((id) => id !== leader)!;
  sim.crash(f);
  proposeMany(sim, 400, 'down');
  sim.runFor(10);
  sim.restart(f);
  assert.ok(sim.runUntil((s) => converged(s), 300));
});

test.run();
