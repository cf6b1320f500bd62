/**
 * Snapshots from the leader are checked before they are kept (Raft §7, InstallSnapshot):
 * - a chunk that claims a 4 GiB snapshot makes the follower reserve nothing, and above
 *   `maxSnapshotBytes` it is refused with SnapshotRejectedError on errors$;
 * - a complete snapshot whose data the state machine refuses is discarded with a logged reason,
 *   never written to disk; the member keeps running on its old state, survives a restart, and
 *   installs a good snapshot later;
 * - a stored snapshot that does not restore fails the start naming the directory and the record.
 * Real RaftNodes on DiskStorage over loopback TCP, except where the Raft core alone is measured.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeActor } from '../src/actors/node-actor.ts';
import { type Logger, type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { resolveConfig } from '../src/config.ts';
import { SnapshotRejectedError, SnapshotRestoreError } from '../src/errors.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import type { MessageHandler, Transport } from '../src/io/transport.ts';
import { KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { type Message, MessageType, message } from '../src/raft/raftpb.ts';
import { SnapshotReceiver, snapshotSizeRefusal } from '../src/raft/snapshot-transfer.ts';
import { freePorts, waitUntil } from './fixtures/free-ports.ts';
import { rejects, tempDir } from './fixtures/log-fixtures.ts';

const FOUR_GIB = 2 ** 32 - 1; // the largest size the wire accepts (message-validation.ts)
const MIB = 1024 * 1024;
const twoPeers = [
  { id: 1, address: '127.0.0.1:1' },
  { id: 2, address: '127.0.0.1:2' },
];

/** The first chunk of a snapshot transfer as a leader (node 2, term 5) sends it. */
function firstChunk(size: number, data: Uint8Array): Message {
  return message({
    type: MessageType.MsgSnap,
    from: 2,
    to: 1,
    term: 5,
    snapshot: { metadata: { index: 100, term: 5, confState: { voters: [1, 2], learners: [] } }, data },
    chunk: { offset: 0, size },
  });
}

test('a chunk claiming 4 GiB makes the follower reserve nothing: memory grows with bytes received', () => {
  // The cap is lifted above the claim so the receiver really takes the transfer.
  const node = new NodeActor({ config: resolveConfig({ nodeId: 1, peers: twoPeers, maxSnapshotBytes: 2 ** 33 }) });
  const before = process.memoryUsage();
  node.step(firstChunk(FOUR_GIB, new Uint8Array(64 * 1024).fill(7)));
  const after = process.memoryUsage();
  const acks = (node.takeReady()?.messages ?? []).filter((m) => m.type === MessageType.MsgSnapAck);
  assert.is(acks.length, 1, 'the chunk was taken and acknowledged');
  assert.is(acks[0]!.commit, 64 * 1024, 'the ack says 64 KiB are held');
  const arrayBuffers = after.arrayBuffers - before.arrayBuffers;
  const rss = after.rss - before.rss;
  assert.ok(arrayBuffers < 16 * MIB, `array buffers grew by ${(arrayBuffers / MIB).toFixed(1)} MiB for a 4 GiB claim`);
  assert.ok(rss < 64 * MIB, `RSS grew by ${(rss / MIB).toFixed(1)} MiB for a 4 GiB claim`);
  node.stop();
});

test('the receiver takes only the next chunk, and never more bytes than the leader declared', () => {
  const meta = { index: 9, term: 2, confState: { voters: [1], learners: [] } };
  const cases: { name: string; size: number; chunks: [offset: number, length: number][]; received: number; complete: boolean }[] = [
    { name: 'in order', size: 10, chunks: [[0, 4], [4, 4], [8, 2]], received: 10, complete: true },
    { name: 'a duplicate is ignored', size: 10, chunks: [[0, 4], [0, 4], [4, 6]], received: 10, complete: true },
    { name: 'a gap is ignored', size: 10, chunks: [[0, 4], [8, 2]], received: 4, complete: false },
    { name: 'a chunk running past the declared size is ignored', size: 10, chunks: [[0, 4], [4, 7]], received: 4, complete: false },
    { name: 'an empty snapshot is complete at once', size: 0, chunks: [[0, 0]], received: 0, complete: true },
  ];
  for (const c of cases) {
    const rx = new SnapshotReceiver(2, 1, meta, c.size);
    for (const [offset, length] of c.chunks) rx.accept(offset, Uint8Array.from({ length }, (_, k) => offset + k));
    assert.is(rx.received, c.received, c.name);
    assert.is(rx.complete(), c.complete, c.name);
    if (c.complete) assert.equal([...rx.snapshot().data], Array.from({ length: c.size }, (_, k) => k), c.name);
  }
  assert.is(snapshotSizeRefusal(FOUR_GIB, 1024), 'it declares 4294967295 bytes, more than maxSnapshotBytes (1024)');
  assert.is(snapshotSizeRefusal(1024, 1024), undefined);
});

/** A transport that only hands the test the node's message handler (no network). */
function capturedTransport(): { create: (h: MessageHandler) => Transport; deliver: (m: Message) => void } {
  let handler: MessageHandler | undefined;
  return {
    create: (h) => {
      handler = h;
      return { send() {}, start: async () => {}, stop: async () => {}, addPeer() {}, removePeer() {} };
    },
    deliver: (m) => handler!(m),
  };
}

function recordingLogger(): Logger & { warnings: { msg: string; fields?: Record<string, unknown> }[] } {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (msg, fields) => warnings.push({ msg, fields }) };
}

test('a running node refuses a 4 GiB claim above maxSnapshotBytes: SnapshotRejectedError, logged, still running', async () => {
  const dir = tempDir('snap-cap-');
  const transport = capturedTransport();
  const logger = recordingLogger();
  const node = createNode({ nodeId: 1, peers: twoPeers, dataDir: dir.path, tickInterval: 10 }, new KvStateMachine(), { transport: transport.create, logger });
  const errors: Error[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  await node.start();
  try {
    const before = process.memoryUsage().arrayBuffers;
    transport.deliver(firstChunk(FOUR_GIB, new Uint8Array(1024)));
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * MIB, 'nothing of the claimed size was allocated');
    await waitUntil(() => errors.length > 0, 'the refusal on errors$', 2000);
    const err = errors[0]!;
    assert.instance(err, SnapshotRejectedError);
    assert.match(err.message, /snapshot at index 100 \(term 5\) from the leader was discarded: it declares 4294967295 bytes, more than maxSnapshotBytes \(1073741824\)/);
    assert.ok(logger.warnings.some((w) => /discarded a snapshot/.test(w.msg) && /maxSnapshotBytes/.test(String(w.fields?.['reason']))), 'logged with its reason');
    assert.is(node.status().term, 5, 'the node took the leader\'s term and keeps running');
    assert.is(node.status().commit >= 1, true);
  } finally {
    await node.stop();
    dir.remove();
  }
});

/** A KV state machine whose snapshots can be made garbage, as a buggy or damaged leader would send. */
class PoisonableKv extends KvStateMachine {
  poison = false;
  override snapshot(): Uint8Array {
    // A msgpack array of three numbers followed by junk: "Data read, but end of buffer not reached".
    return this.poison ? Uint8Array.of(0x93, 1, 2, 3, 0xde, 0xad, 0xbe, 0xef) : super.snapshot();
  }
}

const put = (key: string, value: string) => encodeCommand({ op: 'put', key, value });

/**
 * The same Kv without `validateSnapshot`, and with a `restore` that is NOT all-or-nothing: it wipes
 * the map before decoding, as a careless state machine would. The node must put the old state back.
 */
class CarelessKv {
  readonly kv = new PoisonableKv();
  apply(data: Uint8Array, index: number) {
    return this.kv.apply(data, index);
  }
  snapshot(): Uint8Array {
    return this.kv.snapshot();
  }
  restore(data: Uint8Array): void {
    this.kv.restore(new KvStateMachine().snapshot());
    this.kv.restore(data);
  }
}

const garbageCases = [
  { name: 'validateSnapshot refuses it', make: () => { const kv = new PoisonableKv(); return { sm: kv, kv }; }, reason: /discarded: the state machine refused its data: not a kv snapshot.*keeps its previous state/ },
  { name: 'no validateSnapshot: restore wipes the state, then throws', make: () => { const sm = new CarelessKv(); return { sm, kv: sm.kv }; }, reason: /discarded: the state machine could not restore it: not a kv snapshot.*keeps its previous state/ },
];

for (const c of garbageCases) {
  test(`a garbage snapshot from the leader is discarded (${c.name}); the member keeps its state, restarts, and takes a good one later`, async () => {
    const ports = await freePorts(3);
    const peers = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
    const dirs = peers.map(() => tempDir('snap-garbage-'));
    const config = (id: number) => ({ nodeId: id, peers, tickInterval: 10, snapshotInterval: 20, snapshotCatchUpEntries: 2 });
    const sms = new Map<number, PoisonableKv>();
    const logs = new Map<number, ReturnType<typeof recordingLogger>>();
    const errors = new Map<number, Error[]>();
    const stores = new Map<number, DiskStorage>();
    const make = async (id: number): Promise<RaftNode> => {
      const { sm, kv } = c.make();
      const logger = recordingLogger();
      sms.set(id, kv);
      logs.set(id, logger);
      errors.set(id, []);
      const storage = await DiskStorage.open(dirs[id - 1]!.path, { nodeId: id, clusterId: 'actor-raft' });
      stores.set(id, storage);
      const n = createNode({ ...config(id), dataDir: dirs[id - 1]!.path }, sm, { secret: 'snapshot test secret, 128 bits or more', logger, storage });
      n.errors$.subscribe((e) => errors.get(id)!.push(e));
      return n;
    };
    const nodes = new Map<number, RaftNode>();
    for (const p of peers) nodes.set(p.id, await make(p.id));
    try {
      await Promise.all([...nodes.values()].map((n) => n.start()));
      await waitUntil(() => [...nodes.values()].some((n) => n.isLeader()), 'a leader', 10_000);
      const leaderId = [...nodes.values()].find((n) => n.isLeader())!.id;
      const leader = nodes.get(leaderId)!;
      const followerId = peers.map((p) => p.id).find((id) => id !== leaderId)!;
      for (let i = 0; i < 10; i++) await leader.propose(put(`old${i}`, `v${i}`));
      const oldCommit = leader.status().commit;
      await waitUntil(() => nodes.get(followerId)!.status().applied >= oldCommit, 'the follower applied the old writes', 5000);
      await nodes.get(followerId)!.stop();

      // The leader's snapshots are garbage now; it compacts its log past what the follower holds.
      sms.get(leaderId)!.poison = true;
      for (let i = 0; i < 45; i++) await leader.propose(put(`new${i}`, `v${i}`));

      for (let life = 1; life <= 2; life++) {
        const follower = await make(followerId);
        nodes.set(followerId, follower);
        await follower.start();
        await waitUntil(() => errors.get(followerId)!.some((e) => e instanceof SnapshotRejectedError), `the garbage snapshot refused (life ${life})`, 10_000);
        const refusal = errors.get(followerId)!.find((e) => e instanceof SnapshotRejectedError)!;
        assert.match(refusal.message, c.reason);
        assert.ok(logs.get(followerId)!.warnings.some((w) => /discarded a snapshot from the leader/.test(w.msg)), 'logged');
        // Still running, on its old state: nothing was replaced, nothing fatal was reported.
        assert.ok(follower.status().applied >= oldCommit && follower.status().applied < leader.status().commit);
        assert.is(sms.get(followerId)!.get('old9'), 'v9');
        assert.is(sms.get(followerId)!.get('new44'), undefined);
        assert.ok(!errors.get(followerId)!.some((e) => !(e instanceof SnapshotRejectedError)), `no other error: ${errors.get(followerId)!.map((e) => e.message).join('; ')}`);
        // Nothing of it stays on disk: the staging area is emptied, the stored snapshot is the old one.
        const store = stores.get(followerId)!;
        await waitUntil(async () => (await store.stagedSnapshotBytes()) === 0, 'the staging area emptied', 5000);
        assert.ok(store.snapshotInfo().metadata.index < 20, `stored snapshot ${store.snapshotInfo().metadata.index} is not the leader's`);
        // Serves reads of its old state while it waits for a better snapshot.
        assert.is(follower.status().raftState, 'follower');
        // Its disk holds no garbage: stopping and starting it again works (the second life).
        await follower.stop();
      }

      // A good snapshot later is installed; the member catches up and serves linearizable reads.
      sms.get(leaderId)!.poison = false;
      const follower = await make(followerId);
      nodes.set(followerId, follower);
      await follower.start();
      for (let i = 0; i < 25; i++) await leader.propose(put(`good${i}`, `v${i}`));
      const target = leader.status().commit;
      await waitUntil(() => follower.status().applied >= target, 'the follower installed the good snapshot and caught up', 15_000);
      await follower.readIndex();
      assert.is(sms.get(followerId)!.get('new44'), 'v44');
      assert.is(sms.get(followerId)!.get('good24'), 'v24');
      assert.is(sms.get(followerId)!.get('old0'), 'v0');
      await follower.propose(put('through-follower', 'ok'));
      assert.is((await stores.get(followerId)!.stagedSnapshotBytes()), 0, 'staging emptied once the snapshot was installed');
    } finally {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      for (const d of dirs) d.remove();
    }
  });
}

test('a stored snapshot that does not restore fails the start naming the directory and the record', async () => {
  const dir = tempDir('snap-stored-');
  try {
    const s = await DiskStorage.open(dir.path, { nodeId: 1, clusterId: 'actor-raft' });
    await s.write({
      snapshot: { metadata: { index: 7, term: 2, confState: { voters: [1], learners: [] } }, data: Uint8Array.of(0x93, 1, 2, 3, 0xde, 0xad) },
      hardState: { term: 2, vote: 1, commit: 7 },
      confState: { voters: [1], learners: [] },
    });
    await s.close();
    const node = createNode({ nodeId: 1, peers: [{ id: 1, address: '127.0.0.1:1' }], dataDir: dir.path }, new KvStateMachine(), { transport: capturedTransport().create });
    const err = (await rejects(node.start(), SnapshotRestoreError)) as SnapshotRestoreError;
    assert.ok(err.message.includes(dir.path), 'names the directory');
    assert.match(err.message, /record snapshotMeta: snapshot at index 7, term 2, 6 bytes/);
    assert.match(err.message, /not a kv snapshot/);
    assert.ok(err.cause instanceof Error, 'the state machine\'s error is the cause');
    await node.stop();
  } finally {
    dir.remove();
  }
});

test.run();
