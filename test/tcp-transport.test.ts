/**
 * BidirectionalTransport and the transport actor over real sockets on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TransportActor } from '../src/actors/transport-actor.ts';
import { InvalidPeerError } from '../src/errors.ts';
import type { Cancel, Clock } from '../src/io/clock.ts';
import { FRAME_CIPHERS } from '../src/io/frame-cipher.ts';
import { BidirectionalTransport } from '../src/io/tcp-transport.ts';
import { EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import type { Message } from '../src/raft/raftpb.ts';
import { CLUSTER_ID, SECRET, freePort, fullyConnected, sleep, startCluster, startNode, stopAll, waitFor } from './fixtures/transport-cluster.ts';
import type { TestNode } from './fixtures/transport-cluster.ts';

const heartbeat = (from: number, to: number, term = 1) => message({ type: MessageType.MsgHeartbeat, from, to, term });

function append(from: number, to: number, index: number): Message {
  return message({
    type: MessageType.MsgApp,
    from,
    to,
    term: 2,
    index,
    entries: [{ term: 2, index: index + 1, type: EntryType.Normal, data: new Uint8Array([index & 255, 1, 2]) }],
  });
}

test('three transports exchange messages both ways over exactly one connection per pair', async () => {
  const nodes = await startCluster(3);
  try {
    await waitFor(() => fullyConnected(nodes), 'one connection per pair');
    for (const a of nodes) for (const b of nodes) if (a !== b) for (let i = 0; i < 10; i++) a.transport.send(append(a.id, b.id, i));
    await waitFor(() => nodes.every((n) => n.received.length === 20), 'all 60 messages');
    for (const n of nodes) {
      for (const other of nodes.filter((o) => o !== n)) {
        const fromOther = n.received.filter((m) => m.from === other.id);
        assert.equal(fromOther.map((m) => m.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `node ${n.id} from ${other.id}, in order`);
        assert.equal([...fromOther[3]!.entries[0]!.data], [3, 1, 2]);
        assert.ok(fromOther.every((m) => m.to === n.id));
      }
      const s = n.transport.stats();
      assert.is(s.openSockets, 2, `node ${n.id} holds one socket per peer`);
      assert.is(s.sent, 20);
      assert.is(s.received, 20);
      assert.is(s.authFailures, 0);
    }
    // Both directions of a pair really share one socket: the client port one side sees is the
    // server side the other dialed, so count distinct TCP connections in the whole cluster.
    assert.ok(fullyConnected(nodes), 'still one connection per pair after traffic');
  } finally {
    await stopAll(nodes);
  }
});

test('simultaneous dials: both complete the handshake, one connection survives, nothing written is lost', async () => {
  for (let round = 0; round < 5; round++) {
    const a = await startNode(1);
    const b = await startNode(2);
    try {
      // Add each other in the same tick so both dial at once.
      a.transport.addPeer(2, b.transport.address());
      b.transport.addPeer(1, a.transport.address());
      // Send continuously while the tie-break settles.
      let sentA = 0;
      let sentB = 0;
      for (let i = 0; i < 40; i++) {
        a.transport.send(heartbeat(1, 2, ++sentA));
        b.transport.send(heartbeat(2, 1, ++sentB));
        await sleep(1);
      }
      await waitFor(() => fullyConnected([a, b]), 'a single connection');
      assert.ok(a.transport.stats().dialAttempts >= 1 && b.transport.stats().dialAttempts >= 1, 'both dialed');
      assert.is(a.transport.stats().handshakes, 2, 'both dials authenticated on node 1');
      assert.is(b.transport.stats().handshakes, 2, 'both dials authenticated on node 2');
      await waitFor(
        () => b.received.length === a.transport.stats().sent && a.received.length === b.transport.stats().sent,
        'every message that was written arrives',
      );
      assert.ok(a.transport.stats().sent > 0 && b.transport.stats().sent > 0);
      assert.is(a.unreachable.length + b.unreachable.length, 0, 'settling the tie-break is not a failure');
    } finally {
      await stopAll([a, b]);
    }
  }
});

test('addPeer validates the id and the address with clear errors', async () => {
  const t = new BidirectionalTransport({ nodeId: 1, bindAddr: '127.0.0.1:0', handler: () => {}, clusterId: CLUSTER_ID, secret: SECRET });
  const bad: [unknown, unknown, RegExp][] = [
    [0, '127.0.0.1:1', /positive integer/],
    [-2, '127.0.0.1:1', /positive integer/],
    [1.5, '127.0.0.1:1', /positive integer/],
    ['2', '127.0.0.1:1', /positive integer/],
    [1, '127.0.0.1:1', /itself/],
    [2, '127.0.0.1', /host:port/],
    [2, '127.0.0.1:0', /host:port/],
    [2, '127.0.0.1:70000', /host:port/],
    [2, 'http://x:1', /host:port/],
    [2, 42, /host:port/],
  ];
  for (const [id, addr, why] of bad) {
    assert.throws(
      () => t.addPeer(id as number, addr as string),
      (e: unknown) => e instanceof InvalidPeerError && why.test((e as Error).message),
      `${String(id)} ${String(addr)}`,
    );
  }
  t.addPeer(2, '127.0.0.1:9');
  t.addPeer(2, '127.0.0.1:9');
  assert.equal(Object.keys(t.stats().peers), ['2']);
  t.removePeer(2);
  t.removePeer(2);
  assert.equal(Object.keys(t.stats().peers), []);
  assert.throws(() => new BidirectionalTransport({ nodeId: 1, bindAddr: 'nope', handler: () => {}, clusterId: 'c', secret: 's' }), /bindAddr/);
  assert.throws(() => new BidirectionalTransport({ nodeId: 1, bindAddr: '127.0.0.1:0', handler: () => {}, clusterId: '', secret: 's' }), /clusterId/);
  assert.throws(() => new BidirectionalTransport({ nodeId: 1, bindAddr: '127.0.0.1:0', handler: () => {}, clusterId: 'c', secret: '' }), /secret/);
});

test('send never throws: unknown peers, unconnected peers and a stopped transport are counted drops', async () => {
  const a = await startNode(1);
  a.transport.addPeer(2, `127.0.0.1:${await freePort()}`);
  a.transport.send(heartbeat(1, 7));
  a.transport.send(heartbeat(1, 2));
  await a.transport.stop();
  a.transport.send(heartbeat(1, 2));
  const s = a.transport.stats();
  assert.is(s.dropped.unknownPeer, 1);
  assert.is(s.dropped.notConnected, 1);
  assert.is(s.dropped.stopped, 1);
  assert.is(s.sent, 0);
});

// Every frame mode over real sockets: a batch larger than the frame cap goes out as several
// records (one buffer each in the authentication-only modes, header + ciphertext + tag in the
// AEADs), and arrives whole and in order, with the bytes counted as the peer reads them.
for (const frameCipher of FRAME_CIPHERS) {
  test(`${frameCipher}: a batch over the frame cap arrives whole and in order; bytes sent = bytes the peer read`, async () => {
    const nodes = await startCluster(2, { maxFrameSize: 1024, frameCipher });
    try {
      await waitFor(() => fullyConnected(nodes), 'connected');
      const [a, b] = nodes as [TestNode, TestNode];
      const batch = Array.from({ length: 12 }, (_, i) =>
        message({ type: MessageType.MsgApp, from: 1, to: 2, term: 2, index: i, entries: [{ term: 2, index: i + 1, type: EntryType.Normal, data: new Uint8Array(300).fill(i) }] }));
      const sent0 = a.transport.stats().bytesSent;
      const read0 = b.transport.stats().peers[1]!.bytesReceived;
      a.transport.sendBatch(2, batch);
      a.transport.send(heartbeat(1, 2, 2));
      await waitFor(() => b.received.length === 13, 'twelve appends and a heartbeat');
      assert.equal(b.received.map((m) => m.index), [...batch.map((m) => m.index), 0]);
      assert.ok(b.received.slice(0, 12).every((m, i) => m.entries[0]!.data.length === 300 && m.entries[0]!.data[299] === i));
      assert.is(b.received[12]!.type, MessageType.MsgHeartbeat);
      const sent = a.transport.stats().bytesSent - sent0;
      await waitFor(() => b.transport.stats().peers[1]!.bytesReceived - read0 === sent, `the peer read the ${sent} bytes counted as sent`);
      assert.ok(sent > 12 * 300, 'the batch was counted');
      assert.is(a.transport.stats().authFailures, 0);
      assert.is(b.transport.stats().authFailures, 0);
      assert.ok(fullyConnected(nodes));
    } finally {
      await stopAll(nodes);
    }
  });
}

test('a message larger than the frame cap is dropped by the sender; the connection stays up', async () => {
  const nodes = await startCluster(2, { maxFrameSize: 1024 });
  try {
    await waitFor(() => fullyConnected(nodes), 'connected');
    const [a, b] = nodes as [TestNode, TestNode];
    const big = message({ type: MessageType.MsgApp, from: 1, to: 2, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(2000) }] });
    a.transport.send(big);
    a.transport.send(heartbeat(1, 2));
    await waitFor(() => b.received.length === 1, 'the small message');
    assert.is(b.received[0]!.type, MessageType.MsgHeartbeat);
    assert.is(a.transport.stats().dropped.tooLarge, 1);
    assert.ok(fullyConnected(nodes));
  } finally {
    await stopAll(nodes);
  }
});

const refusedPeers: [string, Partial<{ secret: string; clusterId: string; nodeId: number }>, string][] = [
  ['wrong secret', { secret: 'not the secret, but just as long' }, 'badProof'],
  ['wrong cluster', { clusterId: 'other-cluster' }, 'cluster'],
  ['unknown node id', { nodeId: 9 }, 'unknownPeer'],
];

for (const [name, override, reason] of refusedPeers) {
  test(`handshake refused (${name}): connection closed, counted, nothing delivered`, async () => {
    const good = await startNode(1);
    const id = override.nodeId ?? 2;
    const bad = await startNode(id, { ...override, onUnreachable: () => {} });
    try {
      good.transport.addPeer(2, bad.transport.address()); // the good node expects node 2 there
      bad.transport.addPeer(1, good.transport.address());
      await waitFor(() => good.transport.stats().authFailures >= 2 && bad.transport.stats().dialFailures >= 1, 'refusals both ways', 4000);
      good.transport.send(heartbeat(1, 2));
      bad.transport.send(heartbeat(id, 1));
      // The sends went nowhere (dropped, not in flight): nothing can arrive later.
      assert.ok(good.transport.stats().dropped.notConnected >= 1, 'the good node dropped its send');
      await sleep(30);
      assert.is(good.received.length, 0);
      assert.is(bad.received.length, 0);
      const gs = good.transport.stats();
      assert.ok(gs.handshakeFailures[reason as keyof typeof gs.handshakeFailures] >= 1, `reason ${reason}: ${JSON.stringify(gs.handshakeFailures)}`);
      assert.is(gs.handshakes, 0);
      assert.is(gs.peers[2]!.connected, false);
      assert.ok(good.unreachable.includes(2), 'the failed dial reported the peer unreachable');
    } finally {
      await stopAll([good, bad]);
    }
  });
}

/**
 * A clock whose timers fire only when the test says so: redials happen exactly when the test
 * advances time, never because the machine was slow. `defer` still runs at the end of the turn.
 */
function manualClock(): Clock & { advance(ms: number): void; pending(): number } {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => now,
    setTimer(ms, fn): Cancel {
      const t = { at: now + ms, fn, live: true };
      timers.push(t);
      return () => void (t.live = false);
    },
    defer(fn): Cancel {
      const t = setImmediate(fn);
      return () => clearImmediate(t);
    },
    advance(ms) {
      now += ms;
      for (const t of timers.filter((x) => x.live && x.at <= now)) {
        t.live = false;
        t.fn();
      }
    },
    pending: () => timers.filter((t) => t.live).length,
  };
}

test('a lost peer is redialed on the steady schedule of the injected clock, and reconnected when it is back', async () => {
  const clock = manualClock();
  const redial = { intervalMs: 100, jitter: 0, onDemandGapMs: 1_000_000 };
  const a = await startNode(1, { redial, clock });
  let b = await startNode(2, { redial });
  const addrB = b.transport.address();
  try {
    a.transport.addPeer(2, addrB);
    b.transport.addPeer(1, a.transport.address());
    await waitFor(() => fullyConnected([a, b]), 'connected');
    await b.transport.stop();
    await waitFor(() => a.unreachable.length === 1, 'the lost connection reported');
    const dials = a.transport.stats().dialAttempts;
    // Time stands still: however long this takes on the machine, no redial happens.
    await sleep(50);
    assert.is(a.transport.stats().dialAttempts, dials, 'no redial before the interval');
    for (let i = 1; i <= 3; i++) {
      clock.advance(100);
      assert.is(a.transport.stats().dialAttempts, dials + i, `one redial per interval (${i})`);
      await waitFor(() => a.unreachable.length === 1 + i, `redial ${i} failed and was reported`);
    }
    assert.is(a.transport.stats().peers[2]!.connected, false);
    a.transport.send(heartbeat(1, 2));
    assert.ok(a.transport.stats().dropped.notConnected >= 1);

    b = await startNode(2, { redial, bindAddr: addrB });
    b.transport.addPeer(1, '127.0.0.1:1'); // b cannot dial a: a's redial must do it
    clock.advance(100);
    await waitFor(() => fullyConnected([a, b]), 'reconnected', 3000);
    assert.ok(a.transport.stats().reconnects >= 1, 'counted as a reconnect');
    assert.is(clock.pending(), 0, 'connected: no redial left scheduled');
    a.transport.send(heartbeat(1, 2, 5));
    b.transport.send(heartbeat(2, 1, 6));
    await waitFor(() => b.received.length === 1 && a.received.some((m) => m.term === 6), 'traffic after the restart');
  } finally {
    await stopAll([a, b]);
  }
});

test('a send to a peer that is not connected dials it at once, at most once per on-demand gap', async () => {
  const clock = manualClock();
  const port = await freePort();
  const a = await startNode(1, { redial: { intervalMs: 1_000_000, onDemandGapMs: 1000 }, clock });
  let b: TestNode | undefined;
  try {
    a.transport.addPeer(2, `127.0.0.1:${port}`);
    await waitFor(() => a.unreachable.length === 1, 'the first dial failed');
    b = await startNode(2, { bindAddr: `127.0.0.1:${port}` });
    b.transport.addPeer(1, '127.0.0.1:1'); // b never reaches a: only a's dial can connect them
    for (let i = 0; i < 5; i++) a.transport.send(heartbeat(1, 2));
    assert.is(a.transport.stats().dialAttempts, 1, 'inside the gap after the first dial: no dial');
    clock.advance(1000);
    for (let i = 0; i < 5; i++) a.transport.send(heartbeat(1, 2));
    assert.is(a.transport.stats().dialAttempts, 2, 'five sends, one dial on demand');
    assert.is(a.transport.stats().dropped.notConnected, 10, 'the sends themselves are dropped, not queued');
    await waitFor(() => a.transport.stats().peers[2]!.connected, 'the on-demand dial connected');
    a.transport.send(heartbeat(1, 2, 9));
    await waitFor(() => b!.received.length === 1, 'delivery once connected');
    assert.is(b.received[0]!.term, 9);
  } finally {
    await stopAll(b ? [a, b] : [a]);
  }
});

test('redial settings are checked, naming the field', async () => {
  const cases: [object, RegExp][] = [
    [{ intervalMs: 0 }, /redial\.intervalMs/],
    [{ jitter: 1 }, /redial\.jitter/],
    [{ onDemandGapMs: -1 }, /redial\.onDemandGapMs/],
  ];
  for (const [redial, field] of cases) {
    assert.throws(() => new BidirectionalTransport({ nodeId: 1, bindAddr: '127.0.0.1:0', handler: () => {}, clusterId: CLUSTER_ID, secret: SECRET, redial }), field);
  }
});

test('a throwing handler is contained and counted', async () => {
  const a = await startNode(1);
  const b = new BidirectionalTransport({
    nodeId: 2,
    bindAddr: '127.0.0.1:0',
    clusterId: CLUSTER_ID,
    secret: SECRET,
    handler: (m) => {
      if (m.term === 1) throw new Error('handler bug');
    },
  });
  await b.start();
  try {
    a.transport.addPeer(2, b.address());
    b.addPeer(1, a.transport.address());
    await waitFor(() => a.transport.stats().peers[2]!.connected && b.stats().peers[1]!.connected, 'connected');
    a.transport.send(heartbeat(1, 2, 1));
    a.transport.send(heartbeat(1, 2, 2));
    await waitFor(() => b.stats().received === 2, 'both delivered');
    assert.is(b.stats().handlerErrors, 1);
    assert.ok(b.stats().peers[1]!.connected);
  } finally {
    await Promise.all([a.transport.stop(), b.stop()]);
  }
});

test('transport actor: a turn of messages to a peer is one batch; queues are bounded, oldest dropped', async () => {
  const received: Message[][] = [[], []];
  const actors = [1, 2].map(
    (id) =>
      new TransportActor({
        maxQueuedPerPeer: 50,
        createTransport: (deliver) =>
          new BidirectionalTransport({ nodeId: id, bindAddr: '127.0.0.1:0', clusterId: CLUSTER_ID, secret: SECRET, handler: deliver }),
      }),
  );
  const subs = actors.map((a, i) => a.inbound$.subscribe((m) => received[i]!.push(m)));
  try {
    await Promise.all(actors.map((a) => a.start()));
    const [a1, a2] = actors as [TransportActor, TransportActor];
    const t1 = a1.transport as BidirectionalTransport;
    const t2 = a2.transport as BidirectionalTransport;
    a1.addPeer(2, t2.address());
    a2.addPeer(1, t1.address());
    await waitFor(() => t1.stats().peers[2]!.connected && t2.stats().peers[1]!.connected, 'connected');

    for (let i = 0; i < 30; i++) a1.send(append(1, 2, i));
    assert.is(a1.stats().queued, 30, 'nothing leaves during the turn');
    await waitFor(() => received[1]!.length === 30, '30 messages');
    assert.is(a1.stats().batches, 1, 'one batch for the whole turn');
    assert.equal(received[1]!.map((m) => m.index), Array.from({ length: 30 }, (_, i) => i));

    for (let i = 0; i < 80; i++) a1.send(append(1, 2, 100 + i));
    await waitFor(() => received[1]!.length === 80, 'the 50 newest');
    assert.is(a1.stats().droppedQueueFull, 30);
    assert.equal(received[1]!.slice(30).map((m) => m.index), Array.from({ length: 50 }, (_, i) => 130 + i), 'oldest were dropped');

    a2.sendAll([heartbeat(2, 1), heartbeat(2, 1)]);
    await waitFor(() => received[0]!.length === 2, 'the other direction');
  } finally {
    subs.forEach((s) => s.unsubscribe());
    await Promise.all(actors.map((a) => a.stop()));
  }
  assert.is(actors[0]!.stats().queued, 0);
});

/** A self-signed certificate made with openssl (a prerequisite `.ci/run` installs), or why not. */
function makeSelfSignedCert(): { key: string; cert: string; dir: string } | Error {
  const dir = mkdtempSync(join(tmpdir(), 'raft-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=actor-raft-test', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return new Error(`openssl could not make a test certificate (apt-get install openssl): ${(err as Error).message}`);
  }
}

test('TLS: peers with a shared self-signed certificate exchange messages over one connection', async () => {
  const tlsMaterial = makeSelfSignedCert();
  if (tlsMaterial instanceof Error) throw tlsMaterial;
  const { key, cert } = tlsMaterial;
  const tlsOpts = { server: { key, cert, ca: [cert], requestCert: true, rejectUnauthorized: true }, client: { key, cert, ca: [cert] } };
  const nodes = await startCluster(2, { tls: tlsOpts });
  try {
    await waitFor(() => fullyConnected(nodes), 'TLS connected');
    nodes[0]!.transport.send(append(1, 2, 4));
    nodes[1]!.transport.send(append(2, 1, 5));
    await waitFor(() => nodes[0]!.received.length === 1 && nodes[1]!.received.length === 1, 'messages over TLS');
    assert.is(nodes[1]!.received[0]!.index, 4);
  } finally {
    await stopAll(nodes);
  }
  // A plain-TCP node cannot talk to a TLS node.
  const plain = await startNode(2, { onUnreachable: () => {} });
  const secure = await startNode(1, { tls: tlsOpts, handshakeTimeoutMs: 500 });
  try {
    secure.transport.addPeer(2, plain.transport.address());
    plain.transport.addPeer(1, secure.transport.address());
    // Both sides must really have dialed and failed, or "no handshake" would prove nothing.
    await waitFor(() => secure.transport.stats().dialFailures >= 1 && plain.transport.stats().dialFailures >= 1, 'failed dials both ways', 5000);
    assert.is(secure.transport.stats().handshakes + plain.transport.stats().handshakes, 0);
  } finally {
    await stopAll([plain, secure]);
    rmSync(tlsMaterial.dir, { recursive: true, force: true });
  }
});

test.run();
