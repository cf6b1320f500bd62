/**
 * The host loop (src/actors/host-loop.ts), run the way the simulation runs it: real node actors,
 * real storage and transport actors, over the simulated disk (io's Storage, completing from the
 * seeded queue) and network (io's Transport). What a user of RaftNode relies on: one append per
 * turn for the proposals of that turn, group commit while a write is in flight, nothing
 * acknowledged before it is durable, every proposal settled, no empty no-op handed to the state
 * machine. Seeds are fixed; HOST_LOOP_SEED=<n> picks another.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApplyChain } from '../src/actors/apply-chain.ts';
import { runSteps } from '../src/actors/maybe-async.ts';
import { unwrapProposal } from '../src/actors/proposal-envelope.ts';
import { type Message, MessageType } from '../src/raft/raftpb.ts';
import { DigestStateMachine } from '../src/sim/digest-state-machine.ts';
import { SimDisk } from '../src/sim/sim-disk.ts';
import { Simulation } from '../src/sim/simulation.ts';
import type { StorageWrite } from '../src/io/storage.ts';
import type { Entry } from '../src/raft/raftpb.ts';
import { EntryType } from '../src/raft/raftpb.ts';
import { seedFromEnv, withReplay } from './helpers/seeds.ts';

const SEED = seedFromEnv('HOST_LOOP_SEED', 41);
const replay = (name: string) => `HOST_LOOP_SEED=${SEED} npm test -- host-loop   # ${name}`;
const enc = new TextEncoder();

function cluster(opts: { diskDelay?: readonly [number, number]; stateMachine?: (id: number) => DigestStateMachine } = {}): Simulation {
  const sim = new Simulation({ seed: SEED, nodes: 3, network: { delay: [1, 2] }, diskDelay: opts.diskDelay ?? [1, 1], stateMachine: opts.stateMachine });
  assert.ok(
    sim.runUntil((s) => s.leader() !== undefined && s.ids.every((id) => s.status(id).leader === s.leader() && s.status(id).applied >= 1), 300),
    'a leader every node follows, its no-op applied',
  );
  return sim;
}

test(
  'proposals of one turn are appended together and leave as one MsgApp per follower',
  withReplay(replay('batching'), () => {
    const sim = cluster();
    const leader = sim.leader()!;
    const appends: Message[] = [];
    sim.addMessageHook((m) => {
      if (m.type === MessageType.MsgApp && m.from === leader && m.entries.length > 0) appends.push(m);
      return undefined;
    });
    const loop = sim.hostLoop(leader)!;
    let applied = 0;
    const settle = { resolve: () => applied++, reject: (e: Error) => assert.unreachable(`rejected: ${e.message}`) };
    const submittedBefore = loop.storageActor!.stats.submitted;
    for (let i = 0; i < 50; i++) loop.propose(enc.encode(`c${i}`), settle);
    sim.advance(0); // the end of this turn: the deferred flush runs
    const submissions = loop.storageActor!.stats.submitted - submittedBefore;
    assert.ok(submissions >= 1 && submissions <= 2, `the turn's 50 proposals became one Ready and one storage submission, not ${submissions}`);
    assert.ok(sim.runUntil(() => applied === 50, 100), `all 50 applied (${applied})`);
    // The first append that carries any of the commands carries all 50 of them, to every follower.
    const isCommand = (d: Uint8Array) => unwrapProposal(d)?.payload[0] === 0x63; // 'c'
    for (const f of sim.ids.filter((id) => id !== leader)) {
      const first = appends.find((m) => m.to === f && m.entries.some((e) => isCommand(e.data)));
      assert.ok(first, `an append to ${f}`);
      const commands = first!.entries.filter((e) => isCommand(e.data)).length;
      assert.is(commands, 50, `one append to node ${f} carries the turn's whole batch (sizes seen: ${appends.map((m) => m.entries.length).join(',')})`);
    }
  }),
);

test(
  'while a write is in flight, what arrives joins the next write (group commit)',
  withReplay(replay('group commit'), () => {
    const sim = cluster({ diskDelay: [20, 20] });
    const leader = sim.leader()!;
    const actor = sim.hostLoop(leader)!.storageActor!;
    const before = actor.stats;
    // One proposal per virtual ms for 200 ms: each turn's Ready is its own submission.
    for (let i = 0; i < 200; i++) {
      sim.propose(leader, enc.encode(`g${i}`));
      sim.advance(1);
    }
    sim.runFor(20);
    const after = actor.stats;
    const submitted = after.submitted - before.submitted;
    const written = after.storageWrites - before.storageWrites;
    assert.ok(submitted >= 150, `one submission per turn: ${submitted}`);
    assert.ok(written <= submitted / 5, `${submitted} submissions became ${written} storage writes (a 20 ms disk allows ~${Math.ceil(200 / 20)})`);
    assert.is(sim.status(leader).applied, sim.status(leader).commit, 'everything committed is applied');
  }),
);

test(
  'nothing is acknowledged before it is durable: an append ack leaves only once the follower disk holds the entries',
  withReplay(replay('persist before ack'), () => {
    const sim = cluster({ diskDelay: [5, 15] });
    const leader = sim.leader()!;
    let acks = 0;
    sim.addMessageHook((m) => {
      if (m.type === MessageType.MsgAppResp && !m.reject && m.index > 0) {
        acks++;
        const onDisk = sim.disk(m.from).durable.lastIndexSync();
        assert.ok(onDisk >= m.index, `node ${m.from} acked ${m.index} with ${onDisk} on disk`);
      }
      return undefined;
    });
    for (let i = 0; i < 40; i++) {
      sim.propose(leader, enc.encode(`p${i}`));
      sim.advance(3);
    }
    sim.runFor(20);
    assert.ok(acks > 10, `acks seen: ${acks}`);
  }),
);

test(
  'every proposal settles: applied on the leader and on a follower that forwarded it, with the command at its index',
  withReplay(replay('outcomes'), () => {
    const sim = cluster();
    const leader = sim.leader()!;
    const follower = sim.ids.find((id) => id !== leader)!;
    const outcomes: string[] = [];
    const results: { index: number; term: number }[] = [];
    const settle = (tag: string) => ({
      resolve: (r: { index: number; term: number }) => {
        outcomes.push(`${tag}:ok`);
        results.push(r);
      },
      reject: (e: Error) => outcomes.push(`${tag}:${e.name}`),
    });
    sim.hostLoop(leader)!.propose(enc.encode('on-leader'), settle('leader'));
    sim.hostLoop(follower)!.propose(enc.encode('on-follower'), settle('follower'));
    assert.ok(sim.runUntil(() => outcomes.length === 2, 100), `both settled: ${outcomes.join(', ')}`);
    assert.equal(outcomes.sort(), ['follower:ok', 'leader:ok']);
    for (const r of results) {
      const at = sim.applied(leader).find((e) => e.index === r.index);
      assert.ok(at && at.term === r.term, `the entry at ${r.index} was applied`);
    }
    const texts = sim.applied(leader).map((e) => new TextDecoder().decode(e.data));
    assert.ok(texts.includes('on-leader') && texts.includes('on-follower'), 'the state machine saw the commands, not their envelopes');
    // A cut-off leader cannot commit: its proposal is still pending, and after it is overwritten by
    // the new leader it is rejected as dropped, never resolved.
    sim.isolate(leader);
    const lost: string[] = [];
    sim.hostLoop(leader)!.propose(enc.encode('lost'), { resolve: () => lost.push('ok'), reject: (e) => lost.push(e.name) });
    sim.runFor(5);
    assert.ok(sim.runUntil((s) => s.leader() !== undefined && s.leader() !== leader, 200), 'a new leader on the majority side');
    sim.propose(sim.leader()!, enc.encode('new-term'));
    sim.runFor(10);
    sim.connect(leader);
    assert.ok(sim.runUntil(() => lost.length === 1, 200), 'the lost proposal settles');
    assert.equal(lost, ['ProposalDroppedError'], 'overwritten: dropped, never resolved');
  }),
);

test(
  'a write that only moves the commit index waits for no fsync; entries, term and vote always do',
  withReplay(replay('unsynced commit'), () => {
    const sim = cluster();
    const leader = sim.leader()!;
    const seen = new Map<number, StorageWrite[]>();
    for (const id of sim.ids) {
      // Watch what the storage actor hands the (real, simulated) disk.
      const disk = sim.disk(id);
      const write$ = disk.write$.bind(disk);
      const writes: StorageWrite[] = [];
      seen.set(id, writes);
      disk.write$ = (w: StorageWrite) => {
        writes.push(w);
        return write$(w);
      };
    }
    for (let i = 0; i < 20; i++) {
      sim.propose(leader, enc.encode(`u${i}`));
      sim.advance(5);
    }
    sim.runFor(30);
    for (const [id, writes] of seen) {
      const unsynced = writes.filter((w) => w.sync === false);
      assert.ok(unsynced.length > 0, `node ${id} wrote a commit index alone without an fsync (${writes.length} writes)`);
      for (const w of unsynced) {
        assert.ok(!w.entries?.length && !w.snapshot && !w.peerIncarnations && !w.stagedSnapshotChunks && !w.confState, `node ${id}: an unsynced write carries only a hard state`);
      }
      for (const w of writes.filter((x) => x.entries?.length)) assert.ok(w.sync !== false, `node ${id}: entries are synced`);
    }
    // Term and vote never ride an unsynced write: a term change is followed by its synced write.
    const terms = new Map<number, number>();
    for (const [id, writes] of seen) {
      for (const w of writes) {
        if (!w.hardState) continue;
        const prev = terms.get(id) ?? w.hardState.term;
        if (w.hardState.term !== prev) assert.ok(w.sync !== false, `node ${id}: a new term is synced`);
        terms.set(id, w.hardState.term);
      }
    }
  }),
);

test(
  "a peer that is down opens the leader's circuit breaker for it, and its return closes it",
  withReplay(replay('breaker'), () => {
    const sim = cluster();
    const leader = sim.leader()!;
    const peer = sim.ids.find((id) => id !== leader)!;
    const changes: string[] = [];
    sim.node(leader)!.circuit$.subscribe((c) => {
      if (c.peerId === peer) changes.push(c.state);
    });
    sim.crash(peer);
    assert.ok(sim.runUntil(() => changes.includes('open'), 200), `the breaker for node ${peer} opened on the transport's reports (${changes.join(' → ')})`);
    assert.ok(sim.counters.unreachableReports > 0, 'the simulated transport reported the peer unreachable');
    sim.restart(peer);
    assert.ok(sim.runUntil(() => changes[changes.length - 1] === 'closed', 400), `and closed once the peer answered (${changes.join(' → ')})`);
    assert.ok(sim.runUntil((s) => s.status(peer).applied === s.status(leader).applied, 400), 'the peer caught up');
  }),
);

test('the simulated disk: a power cut loses unsynced writes, and an fsync makes them durable first', () => {
  const disk = new SimDisk('00');
  disk.attach((_w, done) => done());
  const hsAt = (commit: number) => ({ term: 1, vote: 1, commit });
  const entry = (index: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: new Uint8Array([index]) });
  const write = (w: StorageWrite) => disk.write$(w).subscribe();
  write({ entries: [entry(1), entry(2)], hardState: hsAt(0) });
  write({ hardState: hsAt(1), sync: false });
  assert.is(disk.durable.hardStateSync().commit, 0, 'an unsynced commit is not on the platter yet');
  assert.is(disk.powerCut(), 1, 'one write lost');
  assert.is(disk.durable.hardStateSync().commit, 0);
  write({ hardState: hsAt(2), sync: false });
  write({ entries: [entry(3)] });
  assert.is(disk.durable.hardStateSync().commit, 2, 'the synced write carried the unsynced one before it');
  assert.is(disk.durable.lastIndexSync(), 3);
  assert.is(disk.powerCut(), 0, 'nothing left to lose');
  write({ hardState: hsAt(3), sync: false });
  assert.is(disk.load().hardStateSync().commit, 3, 'a restart without a power cut reads the page cache back');
});

test(
  'a forwarded proposal the follower saw in its log and that a new leader overwrote is rejected as not applied, not left unknown',
  withReplay(replay('forwarded overwritten'), () => {
    const sim = new Simulation({ seed: SEED, nodes: 5, network: { delay: [1, 2] }, diskDelay: [1, 1] });
    assert.ok(sim.runUntil((s) => s.leader() !== undefined && s.ids.every((id) => s.status(id).leader === s.leader() && s.status(id).applied >= 1), 300), 'a leader every node follows');
    const old = sim.leader()!;
    const follower = sim.ids.find((id) => id !== old)!;
    const rest = sim.ids.filter((id) => id !== old && id !== follower);
    sim.partition([[old, follower], rest]);
    const outcome: string[] = [];
    sim.hostLoop(follower)!.propose(enc.encode('minority'), { resolve: () => outcome.push('applied'), reject: (e) => outcome.push(e.name) });
    // Forwarded to the old leader, appended there and replicated back: in the follower's log, uncommitted (2 of 5).
    assert.ok(
      sim.runUntil((s) => s.logOf(follower).some((e) => unwrapProposal(e.data)?.payload[0] === 0x6d), 50),
      "the forwarded command reached the follower's own log",
    );
    assert.ok(sim.runUntil((s) => rest.includes(s.leader() ?? -1), 400), 'the majority elects a leader');
    const fresh = sim.leader()!;
    for (let i = 0; i < 3; i++) sim.propose(fresh, enc.encode(`majority${i}`));
    assert.ok(sim.runUntil((s) => s.status(fresh).commit > s.status(follower).lastIndex, 100), 'it commits past the minority log');
    sim.heal();
    assert.ok(sim.runUntil(() => outcome.length === 1, 400), 'the proposal settles once the follower learns the new log');
    assert.equal(outcome, ['ProposalDroppedError'], 'overwritten: provably not applied, safe to retry');
  }),
);

test(
  "a leader's empty no-op entry passes the apply path but never reaches the state machine",
  withReplay(replay('no-op'), () => {
    const calls: Uint8Array[] = [];
    class Recording extends DigestStateMachine {
      override apply(data: Uint8Array, index: number): number {
        calls.push(data);
        return super.apply(data, index);
      }
    }
    const sim = cluster({ stateMachine: () => new Recording() });
    const leader = sim.leader()!;
    sim.propose(leader, enc.encode('x'));
    sim.runFor(10);
    const noOps = sim.applied(leader).filter((e) => e.data.byteLength === 0);
    assert.ok(noOps.length >= 1, 'the no-op went through the apply path');
    assert.ok(calls.length >= 3, `the state machines applied the command (${calls.length} calls)`);
    assert.ok(
      calls.every((d) => d.byteLength > 0),
      'never an empty entry',
    );
  }),
);

test('apply chain: synchronous jobs run at once, a promise holds the jobs behind it', async () => {
  const order: string[] = [];
  const errors: unknown[] = [];
  const chain = new ApplyChain((e) => errors.push(e));
  chain.enqueue(() => void order.push('a'));
  assert.equal(order, ['a'], 'ran synchronously');
  let release!: () => void;
  chain.enqueue(() => new Promise<void>((r) => (release = () => (order.push('b'), r()))));
  chain.enqueue(() => void order.push('c'));
  assert.equal(order, ['a'], 'c waits for b');
  release();
  await chain.idle();
  assert.equal(order, ['a', 'b', 'c']);
  chain.enqueue(() => {
    throw new Error('boom');
  });
  chain.enqueue(() => void order.push('d'));
  assert.equal(order, ['a', 'b', 'c', 'd']);
  assert.is((errors[0] as Error).message, 'boom');
});

test('runSteps: plain values resume at once, promises resume later, rejections are thrown into the steps', async () => {
  const seen: unknown[] = [];
  function* steps(values: unknown[]): Generator<unknown, void, unknown> {
    for (const v of values) {
      try {
        seen.push(yield v);
      } catch (e) {
        seen.push(`caught ${(e as Error).message}`);
      }
    }
  }
  assert.is(runSteps(steps([1, 2])), undefined, 'synchronous');
  assert.equal(seen, [1, 2]);
  const p = runSteps(steps([3, Promise.resolve(4), Promise.reject(new Error('no')), 5]));
  assert.ok(p instanceof Promise);
  assert.equal(seen, [1, 2, 3]);
  await p;
  assert.equal(seen, [1, 2, 3, 4, 'caught no', 5]);
});

test.run();
