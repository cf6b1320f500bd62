/**
 * Malformed input at a running transport over real loopback connections: random bytes, truncated
 * frames, huge length prefixes, hellos with wrong ids, versions, clusters or secrets; after a
 * genuine handshake, sealed frames with invalid bodies (verdicts from an independent table of
 * what peers may send, test/fixtures/message-spec.ts, never from the validator under test), and
 * sealed frames with corrupted tags, ciphertext, counters (replayed, reordered, skipped) or keys.
 * The transport must stay up, count every rejection, keep memory bounded and still carry traffic
 * between its real peers afterwards.
 *
 * Seeded with a fixed default; FUZZ_SEED=<n> picks another, and a failure prints the command that
 * replays it.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Packr, Unpackr } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrames } from '../src/io/frame.ts';
import { FrameSealer } from '../src/io/frame-cipher.ts';
import { encodeHello, encodeProof } from '../src/io/wire.ts';
import { message, MessageType } from '../src/raft/raftpb.ts';
import { CLUSTER_ID, SECRET, startCluster, stopAll, waitFor } from './fixtures/transport-cluster.ts';
import type { TestNode } from './fixtures/transport-cluster.ts';
import { LOCAL_ONLY_TYPES, PEER_MESSAGE_TYPES, specVerdict } from './fixtures/message-spec.ts';
import { authenticatedPeer, closed, connectRaw, helloFor } from './fixtures/raw-peer.ts';
import type { RawPeer } from './fixtures/raw-peer.ts';

const DEFAULT_SEED = 20_261_201;
const seed = process.env.FUZZ_SEED === undefined ? DEFAULT_SEED : Number(process.env.FUZZ_SEED);
const REPLAY = `FUZZ_SEED=${seed} npm test -- transport-fuzz`;
const FUZZER_ID = 3; // a member the target knows, whose secret the fuzzer has, so it can get past auth
const TARGET_ID = 1;
const BOUND = 2 ** 48;

function rng(s: number) {
  let a = s >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, bytes, pick };
}
type Rng = ReturnType<typeof rng>;

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const weird: unknown[] = [-1, 1.5, 2 ** 53, 2 ** 64, BOUND + 1, 2 ** 53 - 1, 2 ** 60, 'x', null, true, [], {}, new Uint8Array(3), Number.NaN, 5n];
const peerTypes = [...PEER_MESSAGE_TYPES.keys()];

/** A valid message tuple from the fuzzer to the target, of any kind peers send. */
function validTuple(r: Rng): unknown[] {
  const type = r.pick(peerTypes);
  const term = 1 + r.int(r.pick([100, BOUND]));
  const index = r.int(1000);
  const logTerm = r.int(term + 1);
  const entries = Array.from({ length: r.int(3) }, (_, i) => [logTerm, index + 1 + i, r.int(2), r.bytes(r.int(16))]);
  const tuple: unknown[] = [type, TARGET_ID, FUZZER_ID, term, logTerm, index, r.int(1000), r.next() < 0.5, r.int(1000), entries];
  if (type === MessageType.MsgSnap) {
    const data = r.bytes(r.int(32));
    tuple.push([data, r.int(BOUND), r.int(100), [1, 2, 3], [], { 1: '127.0.0.1:7001', 2: 'db-2:7002' }], null, [0, data.length + r.int(10)]);
  } else if (r.next() < 0.2) {
    tuple.push(null, r.bytes(8));
  }
  return tuple;
}

/** A frame body aimed at one rule of the spec; whether it is valid is for the spec to say. */
function fuzzBody(r: Rng): Uint8Array {
  const tuple = validTuple(r);
  switch (r.int(12)) {
    case 0:
      return r.bytes(r.int(64)); // random bytes
    case 1: {
      const body = packr.pack(tuple);
      return body.subarray(0, r.int(body.length)); // truncated msgpack
    }
    case 2:
      tuple[r.int(9)] = r.pick(weird); // a scalar field of the wrong type or range
      return packr.pack(tuple);
    case 3:
      tuple[9] = [[r.pick(weird), 1, 0, new Uint8Array(1)]]; // a bad entry
      return packr.pack(tuple);
    case 4:
      tuple[2] = r.pick([1, 2, 4, 99]); // spoofed sender
      return packr.pack(tuple);
    case 5:
      tuple[1] = r.pick([2, 3, 7]); // not addressed to the target
      return packr.pack(tuple);
    case 6:
      tuple[0] = r.pick([...LOCAL_ONLY_TYPES, 20, 255]); // a kind peers never send
      return packr.pack(tuple);
    case 7:
      tuple[3] = r.pick([0, BOUND, BOUND + 1, 2 ** 53 - 1, 2 ** 60]); // term at and past the bound, term 0
      return packr.pack(tuple);
    case 8:
      return packr.pack(r.pick<unknown>([{ type: 3 }, 'hello', 42, null, tuple.slice(0, 5), [...tuple, 1, 2, 3, 4]]));
    case 9: {
      const body = Buffer.from(packr.pack(tuple));
      for (let i = 0; i < 3; i++) body[r.int(body.length)] = r.int(256); // bit rot
      return body;
    }
    default:
      return packr.pack(tuple); // valid as generated (unless the spec says otherwise)
  }
}

/** The spec's verdict on a body: msgpackr unpacks it (trailing bytes are an error), the table decides. */
function expectedValid(body: Uint8Array): boolean {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch {
    return false;
  }
  return specVerdict(value, { from: FUZZER_ID, to: TARGET_ID }) === undefined;
}

/** One pre-authentication attack: the bytes a stranger sends on a fresh connection. */
function preAuthInput(r: Rng): Buffer {
  const hello = (over: Partial<Parameters<typeof helloFor>[0]>) =>
    encodeHello(helloFor({ nodeId: FUZZER_ID, peerId: TARGET_ID, clusterId: CLUSTER_ID, secret: SECRET, ...over }));
  switch (r.int(10)) {
    case 0:
      return r.bytes(1 + r.int(200)); // random bytes
    case 1: {
      const f = encodeFrames([hello({})]);
      return f.subarray(0, r.int(f.length)); // truncated handshake frame
    }
    case 2:
      return Buffer.concat([Buffer.from([0x80 | r.int(128), r.int(256), r.int(256), r.int(256)]), r.bytes(r.int(32))]); // huge length prefix
    case 3:
      return encodeFrames([r.bytes(r.int(100))]); // a valid frame whose body is not a hello
    case 4:
      return encodeFrames([hello({ nodeId: r.pick([4, 42, 1000]) })]); // unknown node id
    case 5:
      return encodeFrames([hello({ clusterId: 'someone-else' })]); // wrong cluster
    case 6:
      return encodeFrames([hello({ version: r.pick([0, 1, 99]) })]); // wrong version
    case 7:
      return encodeFrames([hello({ peerId: r.pick([2, 5]) })]); // addressed to another node
    case 8:
      return encodeFrames([hello({ nodeId: TARGET_ID })]); // claims to be the target itself
    default:
      // A correct hello followed by a proof made with the wrong secret.
      return encodeFrames([hello({}), encodeProof({ proof: r.bytes(32) })]);
  }
}

type Corruption = 'tag' | 'ciphertext' | 'replay' | 'reorder' | 'skip' | 'wrongKey' | 'plain' | 'short';
const corruptions: readonly Corruption[] = ['tag', 'ciphertext', 'replay', 'reorder', 'skip', 'wrongKey', 'plain', 'short'];

/** A valid heartbeat from the fuzzer, packed by hand. */
function heartbeatBody(n: number): Uint8Array {
  return packr.pack([MessageType.MsgHeartbeat, TARGET_ID, FUZZER_ID, 5, 0, 0, n, false, 0, []]);
}

/**
 * `good` sealed records of one valid message each, then the corrupted one, then more good ones
 * (that must never be delivered: after a bad record nothing on the connection is trusted).
 */
function corruptedStream(peer: RawPeer, kind: Corruption, good: number, r: Rng): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < good; i++) records.push(peer.record([heartbeatBody(i)]));
  const next = () => peer.record([heartbeatBody(1000)]);
  switch (kind) {
    case 'tag': {
      const rec = next();
      rec[rec.length - 1 - r.int(16)]! ^= 1 << r.int(8);
      records.push(rec);
      break;
    }
    case 'ciphertext': {
      const rec = next();
      rec[4 + r.int(rec.length - 4 - 16)]! ^= 1 << r.int(8);
      records.push(rec);
      break;
    }
    case 'replay':
      records.push(records[r.int(good)]!);
      break;
    case 'reorder': {
      const a = next();
      const b = next();
      records.push(b, a);
      break;
    }
    case 'skip':
      next(); // sealed (the counter advances) but never sent: a dropped frame
      records.push(next());
      break;
    case 'wrongKey': {
      // Right counter, wrong key: the other direction's (what the target itself seals with).
      const wrong = new FrameSealer(peer.cipher as Exclude<typeof peer.cipher, 'none'>, peer.keys!.acceptorToDialer);
      for (let i = 0; i < peer.sealer!.sealed; i++) wrong.seal(new Uint8Array(0));
      records.push(encodeFrames([wrong.seal(encodeFrames([heartbeatBody(1000)]))]));
      next();
      break;
    }
    case 'plain':
      records.push(encodeFrames([heartbeatBody(1000)])); // an unsealed frame after the handshake
      break;
    case 'short':
      records.push(encodeFrames([r.bytes(r.int(16))])); // shorter than a tag
      break;
  }
  records.push(next(), next());
  return Buffer.concat(records);
}

function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** `closed`, but a target that keeps the socket open fails the test instead of hanging it. */
async function closedWithin(socket: import('node:net').Socket, what: string, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    await Promise.race([closed(socket), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function fuzzRun(): Promise<void> {
  const r = rng(seed);
  const nodes = await startCluster(2, { maxFrameSize: 64 * 1024, redial: { intervalMs: 60_000, onDemandGapMs: 60_000 } });
  const [target, peer] = nodes as [TestNode, TestNode];
  const addr = target.transport.address();
  target.transport.addPeer(FUZZER_ID, '127.0.0.1:1'); // known member; its real address is never used
  const identity = { nodeId: FUZZER_ID, peerId: TARGET_ID, clusterId: CLUSTER_ID, secret: SECRET };
  try {
    // Both dials between the real peers complete their handshakes; one survives the tie-break.
    const settled = (n: TestNode, other: number) => n.transport.stats().handshakes === 2 && n.transport.stats().peers[other]!.connections === 1;
    await waitFor(() => settled(target, 2) && settled(peer, 1), 'real peers connected');
    const heapBefore = heapAfterGc();
    const before = target.transport.stats();
    const delivered = () => target.transport.stats().received - before.received;
    const refused = () => target.transport.stats().invalidMessages - before.invalidMessages;
    let inputs = 0;
    let handshakes = 0;

    // 1. Authenticated, then sealed records of fuzzed bodies (100 bodies a record, many records a
    //    connection); the spec table says which must be delivered and which refused and counted.
    let expectInvalid = 0;
    let expectValid = 0;
    const perConnection = 1000;
    for (let c = 0; c < 8; c++) {
      const raw = await authenticatedPeer(addr, identity);
      handshakes++;
      const bodies: Uint8Array[] = [];
      for (let i = 0; i < perConnection; i++) {
        const body = fuzzBody(r);
        if (expectedValid(body)) expectValid++;
        else expectInvalid++;
        bodies.push(body);
      }
      for (let i = 0; i < bodies.length; i += 100) raw.socket.write(raw.record(bodies.slice(i, i + 100)));
      inputs += perConnection;
      await waitFor(() => refused() + delivered() >= expectInvalid + expectValid, `connection ${c} processed`);
      assert.is(refused(), expectInvalid, `invalid bodies refused and counted (connection ${c})`);
      assert.is(delivered(), expectValid, `valid bodies delivered (connection ${c})`);
      raw.socket.destroy();
      await closed(raw.socket);
    }
    assert.ok(expectValid > 500 && expectInvalid > 4000, `both verdicts exercised (${expectValid} valid, ${expectInvalid} invalid)`);

    // 2. Authenticated, then a corrupted sealed record among good ones: tag, ciphertext, replayed,
    //    reordered, skipped counter, wrong key, unsealed, too short. The good records before it are
    //    delivered, the connection is closed by the target, nothing after it is delivered.
    const byKind = new Map<Corruption, number>();
    for (let i = 0; i < 80; i++) {
      const kind = corruptions[i % corruptions.length]!;
      const good = 1 + r.int(3);
      const raw = await authenticatedPeer(addr, identity);
      handshakes++;
      const rejectedBefore = target.transport.stats().rejectedFrames;
      const deliveredBefore = delivered();
      raw.socket.write(corruptedStream(raw, kind, good, r));
      await closedWithin(raw.socket, `${kind} record: the target closes the connection`); // we never end it ourselves
      await waitFor(() => target.transport.stats().rejectedFrames === rejectedBefore + 1, `${kind} record rejected`);
      assert.is(delivered() - deliveredBefore, good, `${kind}: only the records before it delivered`);
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      inputs++;
    }
    assert.is(byKind.size, corruptions.length);

    // 3. Authenticated, then a random byte stream or a huge length prefix: the connection is closed.
    let expectOversized = 0;
    for (let i = 0; i < 100; i++) {
      const bytes = i % 2 === 0 ? Buffer.from([0xff, 0xff, 0xff, 0xf0 | r.int(16)]) : Buffer.concat([Buffer.from([0x10, 0, 0, 0]), r.bytes(4096)]);
      const raw = await authenticatedPeer(addr, identity);
      handshakes++;
      raw.socket.write(bytes);
      expectOversized++;
      await closedWithin(raw.socket, 'oversized frame: the target closes the connection');
      inputs++;
    }

    // 4. Strangers: one malformed opening per connection, many connections.
    const openings = Array.from({ length: 2500 }, () => preAuthInput(r));
    await inParallel(openings, 32, async (bytes) => {
      const sock = await connectRaw(addr);
      sock.on('error', () => {});
      sock.end(bytes);
      await closed(sock);
    });
    inputs += openings.length;

    assert.ok(inputs >= 10_000, `${inputs} inputs`);
    await waitFor(() => target.transport.stats().openSockets <= 2, 'fuzz connections all closed');
    const after = target.transport.stats();
    const failed = (k: keyof typeof after.handshakeFailures) => after.handshakeFailures[k] - before.handshakeFailures[k];
    assert.is(after.oversizedFrames - before.oversizedFrames, expectOversized, 'oversized frames after auth counted');
    assert.is(after.rejectedFrames - before.rejectedFrames, 80, 'every corrupted record counted once');
    assert.ok(after.authFailures - before.authFailures > 1000, `auth failures counted (${after.authFailures})`);
    for (const k of ['badProof', 'cluster', 'version', 'unknownPeer', 'wrongPeer', 'self', 'malformed', 'oversized', 'closed'] as const) {
      assert.ok(failed(k) > 0, `handshake failures of kind ${k}: ${JSON.stringify(after.handshakeFailures)}`);
    }
    assert.is(after.handlerErrors, 0);
    assert.is(after.handshakes - before.handshakes, handshakes, 'only the genuine handshakes completed');

    // The real peers still talk, over the same single connection.
    const gotByPeer = peer.received.length;
    const gotByTarget = target.received.length;
    target.transport.send(message({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 7 }));
    peer.transport.send(message({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: 7 }));
    await waitFor(() => peer.received.length === gotByPeer + 1 && target.received.length > gotByTarget, 'traffic after the fuzz');
    assert.is(target.transport.stats().peers[2]!.connections, 1);
    assert.is(target.transport.stats().rejectedFrames - before.rejectedFrames, 80, 'the real link never saw a bad frame');

    target.received.length = 0;
    const heapAfter = heapAfterGc();
    const growthMb = (heapAfter - heapBefore) / 2 ** 20;
    assert.ok(growthMb < 50, `heap grew by ${growthMb.toFixed(1)} MB`);
  } finally {
    await stopAll(nodes);
  }
}

test(`fuzz: >10,000 malformed inputs, plain and sealed, leave the transport healthy (seed ${seed})`, async () => {
  try {
    await fuzzRun();
  } catch (err) {
    console.error(`transport fuzz failed; replay with: ${REPLAY}`);
    throw err;
  }
});

test('the spec table agrees with itself on hand-made cases (a wrong table would make the fuzz verdicts meaningless)', () => {
  const ok = [MessageType.MsgHeartbeat, TARGET_ID, FUZZER_ID, 5, 0, 0, 0, false, 0, []];
  const cases: [string, unknown[], boolean][] = [
    ['a heartbeat', ok, true],
    ['spoofed from', [ok[0], TARGET_ID, 2, ...ok.slice(3)], false],
    ['MsgHup from a peer', [MessageType.MsgHup, ...ok.slice(1)], false],
    ['term 2^48', [...ok.slice(0, 3), BOUND, ...ok.slice(4)], true],
    ['term 2^48 + 1', [...ok.slice(0, 3), BOUND + 1, ...ok.slice(4)], false],
    ['term 2^53 - 1', [...ok.slice(0, 3), 2 ** 53 - 1, ...ok.slice(4)], false],
    ['term 0 on a heartbeat', [...ok.slice(0, 3), 0, ...ok.slice(4)], false],
    ['term 0 on a forwarded proposal', [MessageType.MsgProp, ...ok.slice(1, 3), 0, ...ok.slice(4)], true],
  ];
  for (const [name, tuple, valid] of cases) assert.is(specVerdict(tuple, { from: FUZZER_ID, to: TARGET_ID }) === undefined, valid, name);
});

test.run();
