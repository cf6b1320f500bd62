/**
 * Metrics: `GET /metrics` of the key-value HTTP API is strict Prometheus text (format 0.0.4) and
 * its figures move when proposals are made. A real 3-member cluster on loopback TCP with
 * DiskStorage in a temporary directory; the text is checked by a small strict parser below.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { type KvHttpServer, createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { formatPrometheus } from '../src/metrics/prometheus-text.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { freePorts } from './fixtures/free-ports.ts';

// ---- a strict parser of the text exposition format 0.0.4 --------------------------------------

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}
interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name) || name in labels) throw new Error(`bad or repeated label name ${name} in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const n = text[++j];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`bad escape in: ${line}`);
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`expected , between labels in: ${line}`);
      i++;
    }
  }
  return labels;
}

/** The family a sample belongs to: histogram samples carry a suffix. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  const m = /^(.*)_(bucket|sum|count)$/.exec(sample);
  const f = m ? families.get(m[1]!) : undefined;
  return f?.type === 'histogram' ? f : undefined;
}

function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline');
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [, name, help] = /^# HELP (\S+) (.*)$/.exec(line) ?? [];
      if (!name || !NAME.test(name) || helps.has(name)) throw new Error(`bad or repeated HELP: ${line}`);
      helps.set(name, help ?? '');
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line) ?? [];
      if (!name || !NAME.test(name) || families.has(name)) throw new Error(`bad or repeated TYPE: ${line}`);
      if (!helps.has(name)) throw new Error(`TYPE without HELP: ${line}`);
      if (type === 'counter' && !name.endsWith('_total')) throw new Error(`counter not named _total: ${line}`);
      families.set(name, { name, type: type!, help: helps.get(name)!, samples: [] });
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') throw new Error(`unexpected line: ${JSON.stringify(line)}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const family = familyOf(m[1]!, families);
    if (!family) throw new Error(`sample before (or without) its TYPE: ${line}`);
    family.samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? '', line), value: parseValue(m[3]!, line) });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** Buckets ascending by le, cumulative, ending at +Inf equal to _count; one _sum and one _count. */
function checkHistogram(f: Family): void {
  const buckets = f.samples.filter((s) => s.name === `${f.name}_bucket`);
  const count = f.samples.filter((s) => s.name === `${f.name}_count`);
  const sum = f.samples.filter((s) => s.name === `${f.name}_sum`);
  if (buckets.length === 0 || count.length !== 1 || sum.length !== 1) throw new Error(`${f.name}: needs buckets, one _sum and one _count`);
  let prevLe = -Infinity;
  let prevCount = 0;
  for (const b of buckets) {
    const le = parseValue(b.labels.le ?? '', `${f.name} le`);
    if (!(le > prevLe)) throw new Error(`${f.name}: le not ascending at ${b.labels.le}`);
    if (b.value < prevCount) throw new Error(`${f.name}: buckets not cumulative at le=${b.labels.le}`);
    prevLe = le;
    prevCount = b.value;
  }
  if (prevLe !== Infinity) throw new Error(`${f.name}: the last bucket must be le="+Inf"`);
  if (prevCount !== count[0]!.value) throw new Error(`${f.name}: +Inf bucket ${prevCount} differs from _count ${count[0]!.value}`);
}

function value(families: Map<string, Family>, sample: string, labels: Record<string, string> = {}): number {
  const f = familyOf(sample, families);
  const s = f?.samples.find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s) throw new Error(`no sample ${sample}${JSON.stringify(labels)}`);
  return s.value;
}

// ---- the parser refuses what Prometheus would refuse (so the checks below can fail) -------------

const malformed: [string, string][] = [
  ['no trailing newline', '# HELP a_total x\n# TYPE a_total counter\na_total 1'],
  ['sample without TYPE', 'b 1\n'],
  ['counter without _total', '# HELP c x\n# TYPE c counter\nc 1\n'],
  ['TYPE without HELP', '# TYPE d gauge\nd 1\n'],
  ['bad value', '# HELP e x\n# TYPE e gauge\ne one\n'],
  ['unquoted label', '# HELP f x\n# TYPE f gauge\nf{peer=2} 1\n'],
  ['histogram not cumulative', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'],
  ['histogram +Inf differs from _count', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
  ['histogram without +Inf', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
];
for (const [name, text] of malformed) {
  test(`the strict parser refuses: ${name}`, () => {
    assert.throws(() => parsePrometheus(text));
  });
}

// ---- a real cluster -----------------------------------------------------------------------------

/** Polls `cond` every 10 ms; fails naming `what` after 20 s instead of hanging the suite. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; !cond(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

function get(address: string, path: string): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function scrape(address: string): Promise<Map<string, Family>> {
  const r = await get(address, '/metrics');
  assert.is(r.status, 200, r.text);
  assert.is(r.type, 'text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheus(r.text);
}

interface Member {
  readonly node: RaftNode<KvResult>;
  readonly http: KvHttpServer;
  address: string;
}

/** 128 random bits in hex, as members share in production. */
const SECRET = '5f0c2a9e4b7d13e86a2f9c0d7e4b1a36';
const PROPOSALS = 40;

test('GET /metrics on a 3-member TCP cluster with DiskStorage: strict text, counters and histograms move with proposals, per-peer bytes on both sides', async () => {
  const root = mkdtempSync(join(tmpdir(), 'actor-raft-metrics-'));
  const ports = await freePorts(3);
  const peers = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const members: Member[] = [];
  try {
    for (const p of peers) {
      const kv = new KvStateMachine();
      const node = createNode<KvResult>({ nodeId: p.id, peers, dataDir: join(root, String(p.id)), tickInterval: 20 }, kv, { secret: SECRET, metricsIntervalTicks: 1 });
      members.push({ node, http: createKvHttpServer({ node, kv }), address: '' });
    }
    await Promise.all(members.map((m) => m.node.start()));
    for (const m of members) m.address = await m.http.listen('127.0.0.1:0');
    const leaderId = await members[0]!.node.waitForLeader({ signal: AbortSignal.timeout(15_000) });
    const leader = members[leaderId - 1]!;
    const follower = members.find((m) => m.node.id !== leaderId)!;
    // The leader's own commit of its first entry: wait until every member applied it, so the
    // figures before the proposals are settled.
    const first = await leader.node.propose(encodeCommand({ op: 'put', key: 'warm', value: 'up' }));
    for (const m of members) await until(() => m.node.status().applied >= first.index, `member ${m.node.id} to apply ${first.index}`);

    const before = await scrape(leader.address);
    const followerBefore = await scrape(follower.address);
    const fid = String(follower.node.id);
    const lid = String(leaderId);

    const streamed = firstValueFrom(leader.node.metrics$.pipe(filter((s) => s.applies >= value(before, 'raft_applies_total') + PROPOSALS), take(1)));
    await Promise.all(Array.from({ length: PROPOSALS }, (_, i) => leader.node.propose(encodeCommand({ op: 'put', key: `k${i}`, value: 'x'.repeat(100) }))));
    const last = leader.node.status().commit;
    for (const m of members) await until(() => m.node.status().applied >= last, `member ${m.node.id} to apply ${last}`);
    const after = await scrape(leader.address);
    const followerAfter = await scrape(follower.address);

    const delta = (a: Map<string, Family>, b: Map<string, Family>, name: string, labels: Record<string, string> = {}) => value(b, name, labels) - value(a, name, labels);
    // Proposals, commits, applies on the leader.
    assert.is(delta(before, after, 'raft_proposals_total'), PROPOSALS);
    assert.is(delta(before, after, 'raft_commits_total'), PROPOSALS);
    assert.is(delta(before, after, 'raft_applies_total'), PROPOSALS);
    assert.is(delta(followerBefore, followerAfter, 'raft_applies_total'), PROPOSALS);
    assert.is(delta(followerBefore, followerAfter, 'raft_proposals_total'), 0);
    // Commit latency: one observation per proposal made on this member, the warm-up included.
    assert.is(value(after, 'raft_commit_latency_seconds_count'), PROPOSALS + 1);
    assert.is(value(after, 'raft_commit_latency_seconds_bucket', { le: '+Inf' }), PROPOSALS + 1);
    assert.ok(value(after, 'raft_commit_latency_seconds_sum') > value(before, 'raft_commit_latency_seconds_sum'));
    assert.is(value(followerAfter, 'raft_commit_latency_seconds_count'), 0);
    // Durable writes: at least one more fsync, and the batches carried every new entry.
    assert.ok(delta(before, after, 'raft_fsync_duration_seconds_count') >= 1);
    assert.is(delta(before, after, 'raft_fsync_batch_entries_count'), delta(before, after, 'raft_fsync_duration_seconds_count'));
    assert.ok(delta(before, after, 'raft_fsync_batch_entries_sum') >= PROPOSALS);
    assert.ok(delta(followerBefore, followerAfter, 'raft_fsync_batch_entries_sum') >= PROPOSALS);
    // Per-peer traffic moves on both sides of the leader ↔ follower link.
    for (const name of ['raft_peer_sent_bytes_total', 'raft_peer_received_bytes_total', 'raft_peer_sent_messages_total', 'raft_peer_received_messages_total']) {
      assert.ok(delta(before, after, name, { peer: fid }) > 0, `leader ${name}{peer=${fid}}`);
      assert.ok(delta(followerBefore, followerAfter, name, { peer: lid }) > 0, `follower ${name}{peer=${lid}}`);
    }
    // The leader sent at least the 40 entries' payload to the follower.
    assert.ok(delta(before, after, 'raft_peer_sent_bytes_total', { peer: fid }) >= PROPOSALS * 100);
    // Roles, elections, circuits.
    assert.is(value(after, 'raft_role', { role: 'leader' }), 1);
    assert.is(value(after, 'raft_role', { role: 'follower' }), 0);
    assert.is(value(followerAfter, 'raft_role', { role: 'follower' }), 1);
    assert.ok(value(after, 'raft_elections_total') >= 1);
    assert.ok(value(followerAfter, 'raft_leader_changes_total') >= 1);
    assert.is(value(followerAfter, 'raft_leader_id'), leaderId);
    for (const p of peers.filter((p) => p.id !== leaderId)) {
      assert.is(value(after, 'raft_peer_circuit_state', { peer: String(p.id), state: 'closed' }), 1);
      assert.is(value(after, 'raft_peer_circuit_state', { peer: String(p.id), state: 'open' }), 0);
      assert.is(value(after, 'raft_peer_connected', { peer: String(p.id) }), 1);
    }
    assert.is(value(after, 'raft_messages_dropped_total', { reason: 'unknownPeer' }), 0);
    assert.is(value(after, 'raft_invalid_messages_total'), 0);
    assert.is(value(after, 'raft_rejected_frames_total'), 0);

    // The same figures on metrics$, emitted on the node's ticks.
    const snap = await streamed;
    assert.is(snap.nodeId, leaderId);
    assert.is(snap.proposals, value(after, 'raft_proposals_total'));
    assert.ok(snap.peers[follower.node.id]!.bytesSent > 0);
    const three = await firstValueFrom(leader.node.metrics$.pipe(take(3), toArray()));
    assert.is(three.length, 3);
    assert.equal(leader.node.metrics().commitLatencySeconds.count, PROPOSALS + 1);
  } finally {
    for (const m of members) await m.http.close().catch(() => {});
    for (const m of members) await m.node.stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
});

test('snapshots: taken and sent on the leader, received by a member that starts behind the compacted log', async () => {
  const root = mkdtempSync(join(tmpdir(), 'actor-raft-metrics-snap-'));
  const ports = await freePorts(3);
  const peers = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const tuning = { tickInterval: 10, snapshotInterval: 20, snapshotCatchUpEntries: 2 };
  const nodes = peers.map((p) => createNode<KvResult>({ nodeId: p.id, peers, dataDir: join(root, String(p.id)), ...tuning }, new KvStateMachine(), { secret: SECRET }));
  const late = nodes[2]!;
  try {
    await Promise.all(nodes.slice(0, 2).map((n) => n.start()));
    const leaderId = await nodes[0]!.waitForLeader({ signal: AbortSignal.timeout(15_000) });
    const leader = nodes[leaderId - 1]!;
    for (let i = 0; i < 60; i++) await leader.propose(encodeCommand({ op: 'put', key: `s${i}`, value: 'v' }));
    await until(() => leader.metrics().snapshotsTaken > 0, 'the leader to take a snapshot');
    assert.is(late.metrics().snapshotsReceived, 0);
    await late.start();
    const target = leader.status().commit;
    await until(() => late.metrics().appliedIndex >= target, `the late member to apply ${target}`);
    const l = parsePrometheus(formatPrometheus(leader.metrics()));
    const f = parsePrometheus(formatPrometheus(late.metrics()));
    assert.ok(value(l, 'raft_snapshots_taken_total') >= 1);
    assert.ok(value(l, 'raft_snapshots_sent_total') >= 1);
    assert.ok(value(f, 'raft_snapshots_received_total') >= 1);
    assert.is(value(f, 'raft_snapshots_sent_total'), 0);
    assert.is(value(l, 'raft_snapshots_received_total'), 0);
  } finally {
    for (const n of nodes) await n.stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
});

test('/metrics needs the bearer token like every route; HEAD answers without a body; POST is 405', async () => {
  const [port] = await freePorts(1);
  const kv = new KvStateMachine();
  const node = createNode<KvResult>({ nodeId: 1, peers: [{ id: 1, address: `127.0.0.1:${port}` }], dataDir: '', tickInterval: 10 }, kv);
  const token = 'metrics-scrape-token';
  const http = createKvHttpServer({ node, kv, token });
  const status = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const req = request(`http://${address}/metrics`, { headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  await node.start();
  const address = await http.listen('127.0.0.1:0');
  try {
    const cases: [Record<string, string>, number][] = [
      [{}, 401],
      [{ authorization: 'Bearer wrong' }, 401],
      [{ authorization: `Bearer ${token}` }, 200],
    ];
    for (const [headers, expected] of cases) assert.is(await status(headers), expected, JSON.stringify(headers));
    const head = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`http://${address}/metrics`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.is(head.status, 200);
    assert.is(head.body, '');
    const post = await new Promise<number>((resolve, reject) => {
      const req = request(`http://${address}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    assert.is(post, 405);
  } finally {
    await http.close();
    await node.stop();
  }
});

test.run();
