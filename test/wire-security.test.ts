/**
 * A hostile network against a real 3-member cluster (RaftNodes over TCP on 127.0.0.1):
 *
 * - an on-path proxy WITHOUT the secret, between node 2 and node 3, that flips bytes, injects a
 *   forged frame (a MsgApp at term 2^53−1), replays, reorders and drops sealed frames: the cluster
 *   only reconnects — no term change, no write lost — and every bad frame is logged and counted;
 * - a peer WITH the secret that sends terms 2^53−1 and 2^60: refused, logged, counted, cluster
 *   unaffected;
 * - a member restarted during a flood of 2,000 stranger connections rejoins within two election
 *   timeouts, counted in ticks of the same event loop (a wall-clock number would be fragile).
 */
import * as net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Logger, type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { FrameDecoder, encodeFrames } from '../src/io/frame.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { decodeHello, encodeMessage } from '../src/io/wire.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import { freePorts, sleep, waitUntil } from './fixtures/free-ports.ts';
import { authenticatedPeer, closed } from './fixtures/raw-peer.ts';

const SECRET = 'wire security test secret, 128+ bits';
const CLUSTER = 'wire-security';
const TICK_MS = 50;
const ELECTION_TICK = 20; // 1 s: a redial (≈100 ms backoff) must fit well inside one election timeout

interface Member {
  readonly id: number;
  node: RaftNode<KvResult>;
  kv: KvStateMachine;
  readonly storage: MemoryStorage;
  readonly warnings: { msg: string; fields?: Record<string, unknown> }[];
}

function recordingLogger(into: Member['warnings']): Logger {
  return { debug() {}, info() {}, error() {}, warn: (msg, fields) => void into.push({ msg, fields }) };
}

function startMember(id: number, peers: { id: number; address: string }[], listen: string | undefined, storage: MemoryStorage, warnings: Member['warnings']) {
  const kv = new KvStateMachine();
  const node = createNode<KvResult>({ nodeId: id, peers, tickInterval: TICK_MS, electionTick: ELECTION_TICK, heartbeatTick: 2 }, kv, {
    secret: SECRET,
    clusterId: CLUSTER,
    listen,
    storage,
    logger: recordingLogger(warnings),
  });
  return { node, kv };
}

async function cluster(peers: { id: number; address: string }[], listen: Record<number, string> = {}, ids = [1, 2, 3]): Promise<Member[]> {
  const members = ids.map((id) => {
    const storage = new MemoryStorage();
    const warnings: Member['warnings'] = [];
    return { id, storage, warnings, ...startMember(id, peers, listen[id], storage, warnings) };
  });
  await Promise.all(members.map((m) => m.node.start()));
  return members;
}

async function leaderOf(members: readonly Member[]): Promise<Member> {
  let found: Member | undefined;
  await waitUntil(() => {
    const leaders = members.filter((m) => m.node.isLeader());
    found = leaders.length === 1 && members.every((m) => m.node.leader() === leaders[0]!.id) ? leaders[0] : undefined;
    return found !== undefined;
  }, 'one leader every member knows', 15_000);
  return found!;
}

const put = (key: string, value: string) => encodeCommand({ op: 'put', key, value });
const terms = (members: readonly Member[]) => members.map((m) => m.node.status().term);

// ---- the on-path proxy ---------------------------------------------------------------------

type Attack = 'flip' | 'inject' | 'replay' | 'reorder' | 'drop';
const ATTACKS: readonly Attack[] = ['flip', 'inject', 'replay', 'reorder', 'drop'];

/**
 * Forwards whole frames between a dialer and node 3. On a connection dialed by node 2 it lets the
 * handshake (two frames each way) and a few sealed frames through, then carries out the next
 * attack on the dialer → node 3 direction, then keeps forwarding.
 */
class Injector {
  readonly server: net.Server;
  readonly done: Attack[] = [];
  attacking = true;
  private next = 0;

  /** Attacks what `victimOf` dials to `target` (the other direction passes untouched). */
  constructor(
    private readonly target: number,
    private readonly attacker: number,
    offset: number,
  ) {
    this.next = offset;
    this.server = net.createServer((client) => this.pipe(client));
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
  }

  private pipe(client: net.Socket): void {
    const upstream = net.connect({ host: '127.0.0.1', port: this.target });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
    // node 3 → dialer: forwarded untouched.
    upstream.on('data', (d) => client.write(d));
    const decoder = new FrameDecoder(16 * 1024 * 1024);
    let frames = 0;
    let fromNode2 = false;
    let attack: Attack | undefined;
    let state: 'before' | 'attacking' | 'after' = 'before';
    let held: Buffer | undefined;
    client.on('data', (chunk) => {
      for (const body of decoder.push(chunk)) {
        const frame = encodeFrames([Buffer.from(body)]);
        frames++;
        if (frames === 1) fromNode2 = decodeHello(body).nodeId === this.attacker;
        // Frames 1-2 are the hello and the proof; let a few sealed frames through first.
        if (!fromNode2 || !this.attacking || state === 'after' || frames < 6) {
          upstream.write(frame);
          continue;
        }
        if (state === 'before') {
          attack = ATTACKS[this.next++ % ATTACKS.length]!;
          this.done.push(attack);
          state = 'attacking';
        }
        switch (attack!) {
          case 'flip':
            frame[4 + ((frame.length - 4) >> 1)]! ^= 0x20;
            upstream.write(frame);
            break;
          case 'inject': {
            const forged = message({
              type: MessageType.MsgApp,
              from: this.attacker,
              to: this.attacker === 2 ? 3 : 2,
              term: Number.MAX_SAFE_INTEGER,
              entries: [{ term: Number.MAX_SAFE_INTEGER, index: 1, type: EntryType.Normal, data: new Uint8Array(1) }],
            });
            upstream.write(encodeFrames([encodeMessage(forged)]));
            upstream.write(frame);
            break;
          }
          case 'replay':
            upstream.write(frame);
            upstream.write(frame);
            break;
          case 'reorder':
            if (held === undefined) {
              held = frame;
              continue;
            }
            upstream.write(frame);
            upstream.write(held);
            break;
          case 'drop':
            break; // swallowed: the next frame arrives under the wrong counter
        }
        state = 'after';
      }
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

test('an on-path injector without the secret (flip, inject, replay, reorder, drop) causes reconnects only: no term change, no write lost', async () => {
  const [p1, p2, p3, real2, real3] = await freePorts(5);
  // Nodes 2 and 3 are reached through proxies (they listen on their real ports), so whichever of
  // them dials, the connection between them passes an injector.
  const peers = [
    { id: 1, address: `127.0.0.1:${p1}` },
    { id: 2, address: `127.0.0.1:${p2}` },
    { id: 3, address: `127.0.0.1:${p3}` },
  ];
  const to3 = new Injector(real3!, 2, 0);
  const to2 = new Injector(real2!, 3, 2);
  await to3.listen(p3!);
  await to2.listen(p2!);
  const attacks = () => [...to3.done, ...to2.done];
  const members = await cluster(peers, { 2: `127.0.0.1:${real2}`, 3: `127.0.0.1:${real3}` });
  try {
    // The injectors sit on the 2-3 link, which carries traffic only when 2 or 3 leads (followers
    // talk to the leader alone): move leadership off node 1 first.
    let leader = await leaderOf(members);
    for (let tries = 0; leader.id === 1; tries++) {
      assert.ok(tries < 20, 'leadership moved from node 1 to node 2');
      await leader.node.transferLeadership(2).catch(() => {}); // abandoned transfers are retried
      leader = await leaderOf(members);
    }
    const termsBefore = terms(members);
    let written = 0;
    const deadline = Date.now() + 60_000;
    // Writes go on while the attacks run; every one must be applied everywhere.
    while (new Set(attacks()).size < ATTACKS.length || attacks().length < 2 * ATTACKS.length) {
      const r = await leader.node.propose(put(`k${written}`, `v${written}`));
      assert.ok(r.result.ok, `write ${written} applied`);
      written++;
      await sleep(5);
      if (Date.now() > deadline) assert.unreachable(`only these attacks happened: ${attacks().join(', ')}`);
    }
    to3.attacking = false;
    to2.attacking = false;
    for (let i = 0; i < 20; i++, written++) assert.ok((await leader.node.propose(put(`k${written}`, `v${written}`))).result.ok);
    await waitUntil(() => members.every((m) => m.kv.applied === leader.kv.applied), 'every member applied everything');
    assert.equal(terms(members), termsBefore, 'no term changed');
    for (const m of members) {
      assert.is(m.kv.size, written, `node ${m.id} holds every write`);
      assert.is(m.kv.get(`k${written - 1}`), `v${written - 1}`);
    }
    const [s2, s3] = [members[1]!.node.transportStats()!, members[2]!.node.transportStats()!];
    assert.ok(s2.rejectedFrames + s3.rejectedFrames >= attacks().length, `rejected ${s2.rejectedFrames} + ${s3.rejectedFrames} frames for ${attacks().length} attacks`);
    assert.ok(s2.reconnects + s3.reconnects >= attacks().length, `reconnected ${s2.reconnects} + ${s3.reconnects} times`);
    assert.is(s2.invalidMessages + s3.invalidMessages, 0, 'the forged frame never reached message validation');
    assert.ok(
      members.slice(1).some((m) => m.warnings.some((w) => /failed authentication/.test(w.msg) && (w.fields?.peer === 2 || w.fields?.peer === 3))),
      'the rejected frames were logged with the peer',
    );
  } finally {
    await Promise.all(members.map((m) => m.node.stop()));
    await Promise.all([to3.close(), to2.close()]);
  }
});

test('a peer WITH the secret sending terms 2^53−1 and 2^60: refused, logged and counted; the cluster is unaffected', async () => {
  const ports = await freePorts(3);
  const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
  const members = await cluster(peers, {}, [1, 2]); // node 3 is the hostile member
  try {
    const leader = await leaderOf(members);
    assert.ok((await leader.node.propose(put('before', '1'))).result.ok);
    const termsBefore = terms(members);
    for (const target of members) {
      const raw = await authenticatedPeer(peers[target.id - 1]!.address, { nodeId: 3, peerId: target.id, clusterId: CLUSTER, secret: SECRET });
      const bodies = [2 ** 53 - 1, 2 ** 60, 2 ** 48 + 1].flatMap((term) => [
        encodeMessage(message({ type: MessageType.MsgApp, from: 3, to: target.id, term, logTerm: 0, index: 0 })),
        encodeMessage(message({ type: MessageType.MsgVote, from: 3, to: target.id, term, logTerm: term, index: 2 ** 48 })),
        encodeMessage(message({ type: MessageType.MsgHeartbeat, from: 3, to: target.id, term, commit: term })),
      ]);
      raw.socket.write(raw.record(bodies));
      await waitUntil(() => target.node.transportStats()!.invalidMessages >= bodies.length, `node ${target.id} refused all ${bodies.length}`);
      raw.socket.destroy();
      await closed(raw.socket);
      assert.is(target.node.transportStats()!.invalidMessages, bodies.length, 'each refused message counted once');
      const logged = target.warnings.filter((w) => w.msg === 'refused an invalid message from a peer');
      assert.ok(logged.length >= 1 && logged.every((w) => w.fields?.peer === 3), 'logged, naming the peer');
      assert.ok(logged.length < bodies.length, `rate-limited: ${logged.length} lines for ${bodies.length} messages`);
      assert.match(String(logged[0]!.fields?.reason), /above the bound 2\^48/);
    }
    await sleep(ELECTION_TICK * TICK_MS);
    assert.equal(terms(members), termsBefore, 'no term changed');
    assert.ok((await leader.node.propose(put('after', '2'))).result.ok, 'writes still commit');
    assert.is(leader.node.leader(), leader.id);
  } finally {
    await Promise.all(members.map((m) => m.node.stop()));
  }
});

// ---- the flood -----------------------------------------------------------------------------

/** Keeps `count` idle connections open to `port` (reopening those the target closes) until stopped. */
function flood(port: number, count: number): { stop(): Promise<void>; opened(): number } {
  let running = true;
  let opened = 0;
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (!running) return;
    const s = net.connect({ host: '127.0.0.1', port });
    sockets.add(s);
    opened++;
    s.on('error', () => {});
    s.on('close', () => {
      sockets.delete(s);
      if (running) setTimeout(open, 100);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    opened: () => opened,
    stop: async () => {
      running = false;
      for (const sock of sockets) sock.destroy();
      await sleep(50);
    },
  };
}

/** The flood has filled the member's pending handshakes: it evicted or refused connections. */
function saturated(m: Member): boolean {
  const s = m.node.transportStats()!;
  return s.evictedHandshakes + s.rejectedConnections > 0;
}

test('a member restarted during a flood of 2,000 stranger connections rejoins within two election timeouts', async () => {
  const ports = await freePorts(3);
  const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
  const members = await cluster(peers);
  const floods: ReturnType<typeof flood>[] = [];
  try {
    const leader0 = await leaderOf(members);
    const victim = members.find((m) => m !== leader0)!;
    assert.ok((await leader0.node.propose(put('before', '1'))).result.ok);
    await victim.node.stop();
    // The flood: 2,000 idle strangers at every member (more than its pending-handshake bound);
    // at the restarting one from the moment it listens again.
    const running = members.filter((m) => m !== victim);
    for (const m of running) floods.push(flood(ports[m.id - 1]!, 2000));
    await waitUntil(() => running.every((m) => saturated(m)), 'the flood fills the pending handshakes of the running members', 30_000);
    assert.ok((await leader0.node.propose(put('while-down', '2'))).result.ok);
    const restarted = startMember(victim.id, peers, undefined, victim.storage, victim.warnings);
    victim.node = restarted.node;
    victim.kv = restarted.kv;
    // Ticks counted on this event loop: a flood that slows the loop slows the count equally.
    let ticks = 0;
    const ticker = setInterval(() => ticks++, TICK_MS);
    try {
      await victim.node.start();
      floods.push(flood(ports[victim.id - 1]!, 2000));
      await waitUntil(
        () => victim.node.leader() !== 0 && victim.kv.get('while-down') === '2',
        'the restarted member follows a leader and caught up',
        60_000,
        5,
      );
    } finally {
      clearInterval(ticker);
    }
    assert.ok(ticks <= 2 * ELECTION_TICK, `rejoined after ${ticks} ticks; two election timeouts are ${2 * ELECTION_TICK}`);
    assert.ok(floods.every((f) => f.opened() >= 2000), 'the flood was on');
    await waitUntil(() => saturated(victim), 'the flood reaches the restarted member too', 30_000);
    assert.ok((await leader0.node.propose(put('after', '3'))).result.ok, 'the cluster still commits under the flood');
    await waitUntil(() => victim.kv.get('after') === '3', 'the restarted member keeps up under the flood');
    assert.ok(victim.warnings.some((w) => /idle unauthenticated|refused an inbound/.test(w.msg)), 'the flood was logged');
  } finally {
    await Promise.all(floods.map((f) => f.stop()));
    await Promise.all(members.map((m) => m.node.stop()));
  }
});

test.run();
