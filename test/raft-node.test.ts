/**
 * RaftNode in one process: several nodes over real TCP on 127.0.0.1 with MemoryStorage, and the
 * manual (etcd-style) Ready mode driven by hand.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { NotLeaderError, ProposalDroppedError, ProposalOutcomeUnknownError, StoppedError } from '../src/errors.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import type { Message } from '../src/raft/raftpb.ts';
import type { Ready } from '../src/raft/ready.ts';
import { createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { closeHttpAgent, httpRequest } from './fixtures/cli-cluster.ts';
import { freePorts, settleWithin, sleep, waitUntil } from './fixtures/free-ports.ts';

const SECRET = 'in-process test secret';

interface Member {
  readonly id: number;
  readonly node: RaftNode<KvResult>;
  readonly kv: KvStateMachine;
}

async function startCluster(size: number, extra: { disableProposalForwarding?: boolean } = {}): Promise<Member[]> {
  const ports = await freePorts(size);
  const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
  const members = peers.map((p) => {
    const kv = new KvStateMachine();
    const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 10, electionTick: 10, heartbeatTick: 1, ...extra }, kv, { secret: SECRET, clusterId: 'in-process' });
    return { id: p.id, node, kv };
  });
  await Promise.all(members.map((m) => m.node.start()));
  return members;
}

async function stopAll(members: readonly Member[]): Promise<void> {
  await Promise.all(members.map((m) => m.node.stop()));
}

async function leaderOf(members: readonly Member[], timeoutMs = 10_000): Promise<Member> {
  let found: Member | undefined;
  await waitUntil(
    () => {
      const leaders = members.filter((m) => m.node.isLeader());
      found = leaders.length === 1 && members.every((m) => m.node.leader() === leaders[0]!.id || !isRunning(m)) ? leaders[0] : undefined;
      return found !== undefined;
    },
    'one leader that every member knows',
    timeoutMs,
  );
  return found!;
}

const stopped = new Set<RaftNode<KvResult>>();
const isRunning = (m: Member) => !stopped.has(m.node);

const put = (key: string, value: string) => encodeCommand({ op: 'put', key, value });

test('applied$ hands a subscriber every command applied after it subscribed, in order, at its index', async () => {
  const members = await startCluster(3);
  try {
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader)!;
    const before = await leader.node.propose(put('before', '0'));
    await waitUntil(() => follower.node.status().applied >= before.index, 'the follower applied the first command', 10_000);
    const seen: { index: number; key: string }[] = [];
    const sub = follower.node.applied$.subscribe((e) => seen.push({ index: e.index, key: new TextDecoder().decode(e.data) }));
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await leader.node.propose(put(`k${i}`, String(i))));
    await waitUntil(() => seen.length >= 5, 'the follower applied the five commands', 10_000);
    sub.unsubscribe();
    assert.equal(seen.map((e) => e.index), results.map((r) => r.index), 'every command, at its index, in order');
    assert.ok(seen.every((e, i) => e.key.includes(`k${i}`)), 'the command bytes, not their envelope');
  } finally {
    await stopAll(members);
  }
});

test('frameCipher: members on the same mode form a cluster; a member on another mode is never let in; bad modes are refused', async () => {
  const ports = await freePorts(3);
  const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
  const modes = ['chacha20-poly1305', 'chacha20-poly1305', 'aes-256-gmac'] as const;
  const members = peers.map((p, i) => {
    const kv = new KvStateMachine();
    const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 10, electionTick: 10, heartbeatTick: 1 }, kv, { secret: SECRET, clusterId: 'frames', frameCipher: modes[i]! });
    return { id: p.id, node, kv };
  });
  await Promise.all(members.map((m) => m.node.start()));
  try {
    const pair = members.slice(0, 2);
    await waitUntil(() => pair.some((m) => m.node.isLeader()), 'a leader among the two members that share a mode', 10_000);
    const leader = pair.find((m) => m.node.isLeader())!;
    let last = 0;
    for (let i = 0; i < 5; i++) last = (await leader.node.propose(put(`f${i}`, String(i)))).index;
    await waitUntil(() => pair.every((m) => m.node.status().applied >= last), 'both applied', 10_000);
    await sleep(500); // 50 election timeouts of 10 ticks × 10 ms at most: member 3 had every chance to hear a heartbeat
    assert.is(members[2]!.node.status().applied, 0, 'the member on another mode applied nothing');
    assert.is(members[2]!.node.leader(), 0, 'and never heard of a leader');
  } finally {
    await Promise.all(members.map((m) => m.node.stop()));
  }
  const one = [{ id: 1, address: '127.0.0.1:1' }];
  assert.throws(() => createNode({ nodeId: 1, peers: one }, new KvStateMachine(), { frameCipher: 'none' }), /'none' leaves frames unauthenticated/);
  assert.throws(() => createNode({ nodeId: 1, peers: one }, new KvStateMachine(), { frameCipher: 'rot13' as never }), /frameCipher: must be one of/);
});

test('propose on a follower resolves only after the follower applied the entry', async () => {
  const members = await startCluster(3);
  try {
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader)!;
    for (let i = 0; i < 20; i++) {
      const key = `f${i}`;
      const seenAtResolve = await follower.node.propose(put(key, `v${i}`)).then((r) => ({ r, local: follower.kv.get(key) }));
      assert.is(seenAtResolve.local, `v${i}`, 'the follower state machine already holds the value');
      assert.ok(seenAtResolve.r.result.ok);
      assert.is(seenAtResolve.r.result.index, seenAtResolve.r.index);
      assert.ok(follower.node.status().applied >= seenAtResolve.r.index);
    }
    // Concurrent proposals through a follower and the leader: each resolves with its own result.
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? follower : leader).node.propose(put(`c${i}`, `${i}`)).then((r) => ({ i, r }))),
    );
    const indexes = new Set(results.map(({ r }) => r.index));
    assert.is(indexes.size, 200, 'every proposal got its own entry');
    for (const { i, r } of results) {
      assert.ok(r.result.ok && r.result.key === `c${i}`, `result ${i} is for its own command`);
    }
  } finally {
    await stopAll(members);
  }
});

test('disableProposalForwarding: a follower refuses with NotLeaderError naming the leader and its address', async () => {
  const members = await startCluster(3, { disableProposalForwarding: true });
  try {
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader)!;
    const err = await follower.node.propose(put('x', 'y')).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, NotLeaderError);
    assert.is((err as NotLeaderError).leaderId, leader.id);
    assert.is((err as NotLeaderError).leaderAddress, leader.node.peerAddress(leader.id));
    const ok = await leader.node.propose(put('x', 'y'));
    assert.ok(ok.result.ok);
  } finally {
    await stopAll(members);
  }
});

test('abort: an aborted signal rejects with its reason, before or during the proposal', async () => {
  const members = await startCluster(3);
  try {
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader)!;
    const reason = new Error('caller gave up');
    const pre = AbortSignal.abort(reason);
    for (const m of [leader, follower]) {
      const r = await settleWithin(m.node.propose(put('pre', '1'), { signal: pre }), 2000);
      assert.equal(r, { status: 'rejected', reason }, 'already aborted: rejects with the reason');
    }
    // Aborted while in flight (before the entry could commit): rejects with the same reason.
    for (const m of [leader, follower]) {
      const c = new AbortController();
      const p = m.node.propose(put('during', '1'), { signal: c.signal });
      const why = new Error(`abort on node ${m.id}`);
      c.abort(why);
      const r = await settleWithin(p, 2000);
      assert.equal(r, { status: 'rejected', reason: why });
    }
    // AbortSignal.timeout: the reason is the TimeoutError DOMException.
    const t = AbortSignal.timeout(1);
    await sleep(5);
    const r = await settleWithin(follower.node.propose(put('t', '1'), { signal: t }), 2000);
    assert.is(r.status, 'rejected');
    assert.is((r as { reason: Error }).reason, t.reason);
    assert.is((r as { reason: Error }).reason.name, 'TimeoutError');
    // readIndex honours the signal too.
    const rr = await settleWithin(follower.node.readIndex({ signal: AbortSignal.abort(reason) }), 2000);
    assert.equal(rr, { status: 'rejected', reason });
  } finally {
    await stopAll(members);
  }
});

test('propose and readIndex after stop() reject with StoppedError; stop is idempotent', async () => {
  const members = await startCluster(1);
  const [solo] = members;
  await leaderOf(members);
  const ok = await solo!.node.propose(put('a', '1'));
  assert.ok(ok.result.ok);
  await solo!.node.stop();
  await solo!.node.stop();
  stopped.add(solo!.node);
  const r = await settleWithin(solo!.node.propose(put('b', '2')), 1000);
  assert.is(r.status, 'rejected');
  assert.instance((r as { reason: unknown }).reason, StoppedError);
  const rr = await settleWithin(solo!.node.readIndex(), 1000);
  assert.instance((rr as { reason: unknown }).reason, StoppedError);
  assert.not.ok(solo!.node.isLeader());
});

test('proposals in flight when the leader stops settle (dropped, stopped or applied), never hang', async () => {
  const members = await startCluster(3);
  try {
    const leader = await leaderOf(members);
    const followers = members.filter((m) => m !== leader);
    const inFlight = [
      ...Array.from({ length: 50 }, (_, i) => leader.node.propose(put(`l${i}`, 'x'))),
      ...Array.from({ length: 50 }, (_, i) => followers[i % 2]!.node.propose(put(`f${i}`, 'x'))),
    ];
    const stopping = leader.node.stop();
    stopped.add(leader.node);
    // Forwarded proposals wait for the entry for up to 4 election timeouts (400 ms here) plus the new election.
    const outcomes = await Promise.all(inFlight.map((p) => settleWithin(p, 8000)));
    await stopping;
    const counts = { fulfilled: 0, dropped: 0, stopped: 0 };
    for (const o of outcomes) {
      assert.is.not(o.status, 'timeout', 'a proposal hung');
      if (o.status === 'fulfilled') counts.fulfilled++;
      else if (o.status === 'rejected') {
        const e = o.reason;
        assert.ok(
          e instanceof ProposalDroppedError || e instanceof StoppedError || e instanceof ProposalOutcomeUnknownError,
          `unexpected rejection ${String(e)}`,
        );
        if (e instanceof StoppedError) counts.stopped++;
        else counts.dropped++;
      }
    }
    // The leader's own proposals rejected with StoppedError.
    for (const o of outcomes.slice(0, 50)) if (o.status === 'rejected') assert.instance(o.reason, StoppedError);
    // The survivors elect a leader and keep working; a proposal that resolved is on both of them.
    const next = await leaderOf(followers);
    const after = await next.node.propose(put('after', 'ok'));
    assert.ok(after.result.ok);
    await waitUntil(() => followers.every((m) => m.kv.get('after') === 'ok'), 'both survivors applied the new write');
    outcomes.forEach((o, i) => {
      if (o.status !== 'fulfilled') return;
      const key = i < 50 ? `l${i}` : `f${i - 50}`;
      for (const m of followers) assert.is(m.kv.get(key), 'x', `acknowledged ${key} is on node ${m.id}`);
    });
    assert.is(followers[0]!.kv.digest(), followers[1]!.kv.digest());
  } finally {
    await stopAll(members);
  }
});

test('HTTP API: writes, CAS, reads, leader hints, limits and errors', async () => {
  const members = await startCluster(3, { disableProposalForwarding: true });
  const httpPorts = await freePorts(3);
  const httpPeers = new Map(members.map((m, i) => [m.id, `127.0.0.1:${httpPorts[i]}`]));
  const servers = members.map((m) => createKvHttpServer({ node: m.node, kv: m.kv, httpPeers, maxBodyBytes: 1000, requestTimeoutMs: 2000 }));
  try {
    await Promise.all(servers.map((s, i) => s.listen(httpPeers.get(members[i]!.id)!)));
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader)!;
    const L = httpPeers.get(leader.id)!;
    const F = httpPeers.get(follower.id)!;
    const call = (addr: string, method: string, path: string, body?: string) => httpRequest(addr, method, path, body, 5000);
    const json = (r: { text: string }) => JSON.parse(r.text) as Record<string, unknown>;

    let r = await call(L, 'PUT', '/kv/a%2Fb', 'one');
    assert.is(r.status, 200);
    const first = json(r);
    assert.equal({ ...first, index: 'checked below', term: 'checked below' }, { ok: true, key: 'a/b', prev: null, index: 'checked below', term: 'checked below' });
    // The write's log position: past the leader's no-op, applied on the leader, in its current term.
    assert.ok(Number.isSafeInteger(first.index) && (first.index as number) > 1, `index ${String(first.index)}`);
    assert.ok(leader.node.status().applied >= (first.index as number), 'answered once applied');
    assert.is(first.term, leader.node.status().term);
    r = await call(L, 'PUT', '/kv/a%2Fb', 'two');
    assert.is(json(r).prev, 'one');
    r = await call(F, 'GET', '/kv/a%2Fb');
    assert.is(r.status, 200, 'a follower serves linearizable reads through ReadIndex');
    assert.is(r.text, 'two');
    r = await call(F, 'GET', '/kv/a/b?stale=true');
    assert.is(r.text, 'two');
    r = await call(L, 'PUT', '/kv/a%2Fb?prevValue=nope', 'three');
    assert.is(r.status, 412);
    assert.is(json(r).current, 'two');
    r = await call(L, 'PUT', '/kv/a%2Fb?prevValue=two', 'three');
    assert.is(r.status, 200);
    r = await call(L, 'PUT', '/kv/new?prevExist=false', 'x');
    assert.is(r.status, 200);
    r = await call(L, 'PUT', '/kv/new?prevExist=false', 'y');
    assert.is(r.status, 412);
    r = await call(L, 'DELETE', '/kv/new?prevValue=y');
    assert.is(r.status, 412);
    r = await call(L, 'DELETE', '/kv/new');
    assert.is(r.status, 200);
    r = await call(L, 'DELETE', '/kv/new');
    assert.is(r.status, 404);
    r = await call(L, 'GET', '/kv/missing');
    assert.is(r.status, 404);
    assert.equal(json(r), { error: 'key not found', key: 'missing' });

    // A write on a follower with forwarding disabled: 421 naming the leader, with a Location.
    r = await call(F, 'PUT', '/kv/f?x=1', 'v');
    assert.is(r.status, 421);
    assert.equal(json(r).leader, leader.id);
    assert.is(json(r).leaderHttp, L);
    assert.is(json(r).leaderAddress, leader.node.peerAddress(leader.id));
    assert.match(String(json(r).error), /not the leader/);
    assert.is(r.headers.location, `http://${L}/kv/f?x=1`);

    // Limits and bad requests.
    r = await call(L, 'PUT', '/kv/big', 'x'.repeat(1001));
    assert.is(r.status, 413);
    r = await call(L, 'PUT', '/kv/', 'v');
    assert.is(r.status, 400);
    r = await call(L, 'PUT', `/kv/${'k'.repeat(2000)}`, 'v');
    assert.is(r.status, 400);
    r = await call(L, 'PUT', '/kv/%E0%A4%A', 'v');
    assert.is(r.status, 400);
    r = await call(L, 'PUT', '/kv/k?prevExist=true', 'v');
    assert.is(r.status, 400);
    r = await call(L, 'PATCH', '/kv/k', 'v');
    assert.is(r.status, 405);
    r = await call(L, 'GET', '/nope');
    assert.is(r.status, 404);

    // Digest and status agree across members once they applied the same entries.
    await waitUntil(() => members.every((m) => m.kv.applied === leader.kv.applied), 'every member applied the writes');
    const digests = await Promise.all(members.map(async (m) => json(await call(httpPeers.get(m.id)!, 'GET', '/kv?digest=true&stale=true'))));
    for (const d of digests) assert.equal(d, digests[0]);
    const st = json(await call(F, 'GET', '/status'));
    assert.is(st.lead, leader.id);
    assert.is(st.leaderHttp, L);
    assert.is((st.kv as { digest: string }).digest, digests[0]!.digest);

    // A node with no quorum: a linearizable read times out (504) or is refused (503), a stale one is served.
    const others = members.filter((m) => m !== follower);
    for (const m of others) {
      await m.node.stop();
      stopped.add(m.node);
    }
    r = await call(F, 'GET', '/kv/a%2Fb');
    assert.ok(r.status === 503 || r.status === 504, `got ${r.status} ${r.text}`);
    r = await call(F, 'GET', '/kv/a%2Fb?stale=true');
    assert.is(r.text, 'three');
    await follower.node.stop();
    r = await call(F, 'PUT', '/kv/z', 'v');
    assert.is(r.status, 503);
    assert.match(String(json(r).error), /stopped/);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await stopAll(members);
    closeHttpAgent();
  }
});

// ----- manual Ready mode -----

interface ManualMember {
  readonly id: number;
  readonly node: RaftNode<KvResult>;
  readonly kv: KvStateMachine;
  readonly storage: MemoryStorage;
  readonly readies: Ready[];
}

/**
 * Builds nodes in manual mode, each with a MemoryStorage the test owns. Every Ready is queued; the
 * test's `pump` handles them: persist, deliver messages by hand with `step()`, apply, `advance()`.
 */
async function manualCluster(size: number): Promise<{ members: ManualMember[]; pump: () => number }> {
  const peers = Array.from({ length: size }, (_, i) => ({ id: i + 1, address: `127.0.0.1:${40000 + i}` }));
  const members: ManualMember[] = peers.map((p) => {
    const kv = new KvStateMachine();
    const storage = new MemoryStorage();
    const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 5, electionTick: 10, heartbeatTick: 1 }, kv, { manual: true, storage });
    const m: ManualMember = { id: p.id, node, kv, storage, readies: [] };
    node.ready$.subscribe((rd) => m.readies.push(rd));
    return m;
  });
  await Promise.all(members.map((m) => m.node.start()));
  const byId = new Map(members.map((m) => [m.id, m]));
  const pump = (): number => {
    let handled = 0;
    const outbox: Message[] = [];
    for (const m of members) {
      for (let rd = m.readies.shift(); rd; rd = m.readies.shift()) {
        handled++;
        // 1. persist, 2. send, 3. apply, 4. advance (etcd's order).
        m.storage.writeSync({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
        outbox.push(...rd.messages);
        for (const e of rd.committedEntries) if (e.data.byteLength > 0) m.kv.apply(unwrap(e.data), e.index);
        m.node.advance();
      }
    }
    for (const msg of outbox) byId.get(msg.to)?.node.step(msg);
    return handled;
  };
  return { members, pump };
}

/** Manual mode hands out entries as proposed, in the RaftNode's proposal envelope (18-byte header). */
function unwrap(data: Uint8Array): Uint8Array {
  return data.byteLength >= 18 && data[0] === 0xae && data[1] === 1 ? data.subarray(18) : data;
}

async function driveUntil(pump: () => number, cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`manual mode: timed out waiting for ${what}`);
    if (pump() === 0) await sleep(1);
    else await new Promise((r) => setImmediate(r));
  }
}

for (const size of [1, 3]) {
  test(`manual Ready mode drives a ${size}-node cluster to commit and apply proposals`, async () => {
    const { members, pump } = await manualCluster(size);
    try {
      await driveUntil(pump, () => members.some((m) => m.node.isLeader()), 'a leader');
      const leader = members.find((m) => m.node.isLeader())!;
      const follower = members.find((m) => m !== leader);
      for (let i = 0; i < 30; i++) void (i % 2 && follower ? follower : leader).node.propose(put(`m${i}`, `${i}`)).catch(() => {});
      await driveUntil(pump, () => members.every((m) => m.kv.size === 30), 'every member applied all 30 proposals');
      for (const m of members) {
        assert.is(m.kv.get('m29'), '29');
        assert.is(m.kv.digest(), leader.kv.digest());
        // What the application persisted is the log: the storage it owns holds every entry.
        const last = await m.storage.lastIndex();
        assert.ok(last >= 31, `node ${m.id} persisted its log (last index ${last})`);
        assert.is(m.storage.hardStateSync().commit, m.node.status().commit);
        assert.is(m.node.status().applied, m.kv.applied);
      }
    } finally {
      await Promise.all(members.map((m) => m.node.stop()));
    }
  });
}

test.run();
