/**
 * Malformed input at a running transport over real loopback connections: random bytes, truncated
 * frames, huge length prefixes, hellos with wrong ids, versions, clusters or secrets, and (after a
 * genuine handshake) valid frames with invalid bodies. The transport must stay up, count every
 * rejection, keep memory bounded and still carry traffic between its real peers afterwards.
 *
 * Seeded: a failure prints the seed; FUZZ_SEED=<n> reproduces it.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Packr } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidMessageError } from '../src/errors.ts';
import { encodeFrames } from '../src/io/frame.ts';
import { decodePeerMessage, encodeHello, encodeMessage, encodeProof } from '../src/io/wire.ts';
import { EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import type { Message } from '../src/raft/raftpb.ts';
import { CLUSTER_ID, SECRET, fullyConnected, startCluster, stopAll, waitFor } from './fixtures/transport-cluster.ts';
import type { TestNode } from './fixtures/transport-cluster.ts';
import { authenticatedSocket, closed, connectRaw, helloFor } from './fixtures/raw-peer.ts';

const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const FUZZER_ID = 3; // a member the target knows, whose secret the fuzzer has, so it can get past auth

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

const packr = new Packr({ useRecords: false });
const weird: unknown[] = [-1, 1.5, 2 ** 53, 2 ** 64, 'x', null, true, [], {}, new Uint8Array(3), Number.NaN, 5n];

function validMessage(r: Rng): Message {
  return message({
    type: r.pick([MessageType.MsgApp, MessageType.MsgHeartbeat, MessageType.MsgVote, MessageType.MsgAppResp]),
    from: FUZZER_ID,
    to: 1,
    term: r.int(100),
    index: r.int(1000),
    entries: Array.from({ length: r.int(3) }, (_, i) => ({ term: 1, index: i + 1, type: EntryType.Normal, data: r.bytes(r.int(16)) })),
  });
}

/** A frame body that is not a valid message from the fuzzer to node 1. */
function invalidBody(r: Rng): Uint8Array {
  const m = validMessage(r);
  const tuple = packr.unpack(encodeMessage(m)) as unknown[];
  switch (r.int(9)) {
    case 0:
      return r.bytes(r.int(64)); // random bytes
    case 1: {
      const body = Buffer.from(encodeMessage(m));
      return body.subarray(0, r.int(body.length)); // truncated msgpack
    }
    case 2: {
      tuple[r.int(9)] = r.pick(weird); // a scalar field of the wrong type or range
      return packr.pack(tuple);
    }
    case 3:
      tuple[9] = [[r.pick(weird), 1, 0, new Uint8Array(1)]]; // bad entry
      return packr.pack(tuple);
    case 4:
      return encodeMessage({ ...m, from: r.pick([1, 2, 4, 99]) }); // spoofed sender
    case 5:
      return encodeMessage({ ...m, to: r.pick([2, 3, 7]) }); // not addressed to the target
    case 6:
      return encodeMessage({ ...m, type: r.pick([MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgUnreachable]) });
    case 7:
      return packr.pack(r.pick<unknown>([{ type: 3 }, 'hello', 42, null, tuple.slice(0, 5), [...tuple, 1, 2, 3]]));
    default: {
      const body = Buffer.from(encodeMessage(m));
      for (let i = 0; i < 3; i++) body[r.int(body.length)] = r.int(256); // bit rot
      return body;
    }
  }
}

/** One pre-authentication attack: the bytes a stranger sends on a fresh connection. */
function preAuthInput(r: Rng): Buffer {
  const hello = (over: Partial<Parameters<typeof helloFor>[0]>) =>
    encodeHello(helloFor({ nodeId: FUZZER_ID, peerId: 1, clusterId: CLUSTER_ID, secret: SECRET, ...over }));
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
      return encodeFrames([hello({ version: r.pick([0, 2, 99]) })]); // wrong version
    case 7:
      return encodeFrames([hello({ peerId: r.pick([2, 5]) })]); // addressed to another node
    case 8:
      return encodeFrames([hello({ nodeId: 1 })]); // claims to be the target itself
    default:
      // A correct hello followed by a proof made with the wrong secret.
      return encodeFrames([hello({}), encodeProof({ proof: r.bytes(32) })]);
  }
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

test(`fuzz: >10,000 malformed inputs over loopback leave the transport healthy (seed ${seed})`, async () => {
  const r = rng(seed);
  const nodes = await startCluster(2, { maxFrameSize: 64 * 1024, circuitBreaker: { failureThreshold: 1, sleepWindowMs: 60_000 } });
  const [target, peer] = nodes as [TestNode, TestNode];
  const addr = target.transport.address();
  target.transport.addPeer(FUZZER_ID, '127.0.0.1:1'); // known member; its real address is never used
  try {
    // Both dials between the real peers complete their handshakes; one survives the tie-break.
    const settled = (n: TestNode, other: number) => n.transport.stats().handshakes === 2 && n.transport.stats().peers[other]!.connections === 1;
    await waitFor(() => settled(target, 2) && settled(peer, 1), 'real peers connected');
    const heapBefore = heapAfterGc();
    const before = target.transport.stats();
    let inputs = 0;

    // 1. Authenticated, then valid frames with invalid bodies: batched, many per connection.
    let expectInvalid = 0;
    let expectValid = 0;
    const perConnection = 1000;
    for (let c = 0; c < 8; c++) {
      const sock = await authenticatedSocket(addr, { nodeId: FUZZER_ID, peerId: 1, clusterId: CLUSTER_ID, secret: SECRET });
      const bodies: Uint8Array[] = [];
      for (let i = 0; i < perConnection; i++) {
        const body = invalidBody(r);
        try {
          decodePeerMessage(body, { from: FUZZER_ID, to: 1 });
          expectValid++; // bit rot can leave a message valid; it must then be delivered
        } catch (e) {
          if (!(e instanceof InvalidMessageError)) throw e;
          expectInvalid++;
        }
        bodies.push(body);
      }
      for (let i = 0; i < bodies.length; i += 100) sock.write(encodeFrames(bodies.slice(i, i + 100)));
      inputs += perConnection;
      const received = before.received;
      await waitFor(
        () => target.transport.stats().invalidMessages - before.invalidMessages + target.transport.stats().received - received >= expectInvalid + expectValid,
        `connection ${c} processed`,
      );
      sock.destroy();
      await closed(sock);
    }
    const afterBodies = target.transport.stats();
    assert.is(afterBodies.invalidMessages - before.invalidMessages, expectInvalid, 'every invalid body counted');
    assert.is(afterBodies.received - before.received, expectValid, 'bodies that stayed valid were delivered');

    // 2. Authenticated, then a random byte stream or a huge length prefix: the connection is closed.
    //    One at a time: each genuine handshake as node 3 carries a new incarnation, which rightly
    //    makes the target drop node 3's older connections.
    let expectOversized = 0;
    const streams = Array.from({ length: 100 }, (_, i) =>
      i % 2 === 0 ? Buffer.from([0xff, 0xff, 0xff, 0xf0 | r.int(16)]) : Buffer.concat([Buffer.from([0x10, 0, 0, 0]), r.bytes(4096)]),
    );
    await inParallel(streams, 1, async (bytes) => {
      const sock = await authenticatedSocket(addr, { nodeId: FUZZER_ID, peerId: 1, clusterId: CLUSTER_ID, secret: SECRET });
      sock.write(bytes);
      expectOversized++;
      await closed(sock); // the target closes it: we never end it ourselves
    });
    inputs += streams.length;

    // 3. Strangers: one malformed opening per connection, many connections.
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
    assert.ok(after.authFailures - before.authFailures > 1000, `auth failures counted (${after.authFailures})`);
    for (const k of ['badProof', 'cluster', 'version', 'unknownPeer', 'wrongPeer', 'self', 'malformed', 'oversized', 'closed'] as const) {
      assert.ok(failed(k) > 0, `handshake failures of kind ${k}: ${JSON.stringify(after.handshakeFailures)}`);
    }
    assert.is(after.handlerErrors, 0);
    assert.is(after.handshakes - before.handshakes, 8 + streams.length, 'only the genuine handshakes completed');

    // The real peers still talk, over the same single connection.
    const gotByPeer = peer.received.length;
    const gotByTarget = target.received.length;
    target.transport.send(message({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 7 }));
    peer.transport.send(message({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: 7 }));
    await waitFor(() => peer.received.length === gotByPeer + 1 && target.received.length > gotByTarget, 'traffic after the fuzz');
    assert.is(target.transport.stats().peers[2]!.connections, 1);

    target.received.length = 0;
    const heapAfter = heapAfterGc();
    const growthMb = (heapAfter - heapBefore) / 2 ** 20;
    assert.ok(growthMb < 50, `heap grew by ${growthMb.toFixed(1)} MB`);
  } catch (err) {
    console.error(`transport fuzz failed with FUZZ_SEED=${seed}`);
    throw err;
  } finally {
    await stopAll(nodes);
  }
});

test.run();
