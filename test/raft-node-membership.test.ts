/**
 * RaftNode with snapshots and membership changes, in one process over real TCP on 127.0.0.1:
 * snapshots and compaction as entries are applied, a node that joins and catches up by snapshot,
 * removal, leadership transfer, and one membership change at a time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { ConfChangeInProgressError, NotLeaderError, ProposalDroppedError } from '../src/errors.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { freePorts, waitUntil } from './fixtures/free-ports.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';

const SECRET = 'membership test secret';
const put = (key: string, value: string) => encodeCommand({ op: 'put', key, value });

interface Member {
  readonly id: number;
  readonly address: string;
  readonly node: RaftNode<KvResult>;
  readonly kv: KvStateMachine;
}

const tuning = { tickInterval: 10, electionTick: 10, heartbeatTick: 1, snapshotInterval: 50, snapshotCatchUpEntries: 10 };

function member(id: number, address: string, peers: { id: number; address: string }[], join = false, storage?: MemoryStorage): Member {
  const kv = new KvStateMachine();
  const node = createNode<KvResult>({ nodeId: id, peers, ...tuning }, kv, { secret: SECRET, clusterId: 'membership', join, storage });
  return { id, address, node, kv };
}

async function leaderOf(members: readonly Member[]): Promise<Member> {
  let found: Member | undefined;
  await waitUntil(
    () => {
      found = members.find((m) => m.node.isLeader() && members.every((o) => o.node.leader() === m.id));
      return found !== undefined;
    },
    'a leader every member follows',
    10_000,
  );
  return found!;
}

test('snapshots, a joining node, removal and leadership transfer', async () => {
  const ports = await freePorts(4);
  const peers = ports.slice(0, 3).map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const storage1 = new MemoryStorage();
  const members = peers.map((p) => member(p.id, p.address, peers, false, p.id === 1 ? storage1 : undefined));
  const joiner = member(4, `127.0.0.1:${ports[3]}`, [...peers, { id: 4, address: `127.0.0.1:${ports[3]}` }], true);
  const all = [...members, joiner];
  try {
    await Promise.all(members.map((m) => m.node.start()));
    let leader = await leaderOf(members);
    for (let i = 0; i < 300; i++) await leader.node.propose(put(`k${i}`, `v${i}`));
    await waitUntil(() => members.every((m) => m.node.status().applied >= leader.node.status().commit), 'all applied', 5000);
    for (const m of members) {
      assert.ok(m.node.status().applied >= 300);
      // Snapshots every 50 applied entries compact the in-memory log, keeping 10 behind.
      const first = (m.node as unknown as { node: { raft: { log: { firstIndex(): number } } } }).node.raft.log.firstIndex();
      assert.ok(first > 200, `node ${m.id} compacted its log (first index ${first})`);
    }

    // A new node joins: started empty, added on the leader, caught up by snapshot.
    await joiner.node.start();
    const added = await leader.node.addNode(4, joiner.address);
    assert.ok(added.index > 300);
    await waitUntil(() => joiner.node.status().applied >= added.index, 'the joiner caught up', 10_000);
    assert.is(joiner.kv.digest(), leader.kv.digest(), 'the joiner holds the same state');
    assert.ok(leader.node.status().progress[4] !== undefined, 'the leader tracks the new member');
    // The new member's address is stored with the membership (and so survives compaction and restarts).
    await waitUntil(async () => (await storage1.initialState()).confState.addresses?.[4] === joiner.address, 'address stored', 5000);

    // One membership change at a time.
    await leader.node.removeNode(4);
    const third = leader.node.addNode(4, joiner.address, { learner: true });
    const fourth = leader.node.removeNode(2).catch((e: unknown) => e);
    assert.instance(await fourth, ConfChangeInProgressError);
    await third;

    // Membership changes are leader-only: a follower says who leads.
    const follower = members.find((m) => m !== leader)!;
    try {
      await follower.node.removeNode(4);
      assert.unreachable('a follower accepted a membership change');
    } catch (err) {
      assert.instance(err, NotLeaderError);
      assert.is((err as NotLeaderError).leaderId, leader.id);
    }

    // Leadership transfer to an up-to-date voter.
    const target = members.find((m) => m !== leader)!;
    // transferLeadership gives up after two election timeouts of wall-clock time (here 200 ms); a
    // loaded machine can miss that, so an abandoned handover is retried: what is checked is that
    // a handover completes, and how (below), not how fast.
    let termBefore = leader.node.status().term;
    for (let attempt = 1; ; attempt++) {
      try {
        await leader.node.transferLeadership(target.id);
        break;
      } catch (err) {
        if (!(err instanceof ProposalDroppedError) || !/did not complete/.test(err.message) || attempt === 5) throw err;
        await waitUntil(() => members.some((m) => m.node.isLeader()), 'a leader after an abandoned transfer', 10_000);
        if (target.node.isLeader()) break; // the handover completed just after the deadline
        leader = members.find((m) => m.node.isLeader())!;
        termBefore = leader.node.status().term;
      }
    }
    assert.is(target.node.isLeader(), true);
    // A transfer is one election started at once by TimeoutNow (thesis §3.10), not a timeout-driven
    // one: the target leads in the very next term. (How fast, in ms, belongs to npm run bench.)
    assert.is(target.node.status().term, termBefore + 1, 'the target won the first election after the transfer');
    leader = target;
    const after = await leader.node.propose(put('after-transfer', 'ok'));
    assert.ok(after.result.ok);
  } finally {
    await Promise.all(all.map((m) => m.node.stop()));
  }
});


test('restarts: a new process never settles a proposal with an old entry; the same instance does not apply twice', async () => {
  const ports = await freePorts(1);
  const peers = [{ id: 1, address: `127.0.0.1:${ports[0]}` }];
  const storage = new MemoryStorage();
  const open = (kv: KvStateMachine) => createNode<KvResult>({ nodeId: 1, peers, ...tuning }, kv, { storage });
  const kv1 = new KvStateMachine();
  const first = open(kv1);
  await first.start();
  await waitUntil(() => first.isLeader(), 'leader', 5000);
  const a = await first.propose(put('a', '1'));
  await first.stop();
  // Same instance, started again: nothing is applied twice.
  const appliedBefore: number[] = [];
  const sub = first.applied$.subscribe((e) => appliedBefore.push(e.index));
  await first.start();
  await waitUntil(() => first.isLeader(), 'leader again', 5000);
  const b = await first.propose(put('b', '2'));
  assert.ok(appliedBefore.every((i) => i > a.index), `re-applied ${appliedBefore.join(',')}`);
  sub.unsubscribe();
  await first.stop();
  // A new process on the same storage: its first proposal resolves with its own entry.
  const kv2 = new KvStateMachine();
  const second = open(kv2);
  await second.start();
  await waitUntil(() => second.isLeader(), 'leader in the new process', 5000);
  const c = await second.propose(put('c', '3'));
  assert.ok(c.index > b.index, `resolved with index ${c.index}, after ${b.index}`);
  assert.ok(c.result.ok && c.result.key === 'c', 'the result of its own command');
  assert.is(kv2.get('a'), '1');
  await second.stop();
});

test.run();
