/**
 * GET /health of the key-value HTTP API: 503 while no leader is known or this node has not applied
 * what was committed when it started, 200 once it has. Real nodes on loopback, DiskStorage in a
 * temporary directory for the restart case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNode } from '../src/actors/raft-node.ts';
import { createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { freePorts } from './fixtures/free-ports.ts';

function get(address: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function member(peers: { id: number; address: string }[], id: number, dataDir = '') {
  const kv = new KvStateMachine();
  const node = createNode<KvResult>({ nodeId: id, peers, dataDir, tickInterval: 10 }, kv, { secret: 'health-test secret, 128 bits or more' });
  const http = createKvHttpServer({ node, kv });
  return { node, http };
}

test('503 "no leader is known" on a member that cannot reach a majority', async () => {
  const ports = await freePorts(3);
  const peers = ports.map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const { node, http } = await member(peers, 1);
  await node.start();
  const address = await http.listen('127.0.0.1:0');
  try {
    const r = await get(address, '/health');
    assert.is(r.status, 503);
    assert.is(r.body.status, 'unavailable');
    assert.is(r.body.reason, 'no leader is known');
  } finally {
    await http.close();
    await node.stop();
  }
});

test('200 once a leader is known and what was committed at start is applied', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'actor-raft-health-'));
  const [port] = await freePorts(1);
  const peers = [{ id: 1, address: `127.0.0.1:${port}` }];
  try {
    // First life: commit some writes, then stop.
    const first = await member(peers, 1, dir);
    await first.node.start({ waitForLeader: true, signal: AbortSignal.timeout(10_000) });
    for (let i = 0; i < 20; i++) await first.node.propose(encodeCommand({ op: 'put', key: `k${i}`, value: 'v'.repeat(300) }));
    const committed = first.node.status().commit;
    await first.node.stop();

    // Second life: applying the last committed entry is held back by a gate, so the node knows a
    // leader before it has applied what was committed when it started; /health must say so until
    // the gate opens. Small messages split the replay into several batches, so the membership at
    // the head of the log is applied and the node may campaign meanwhile.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const kv = new KvStateMachine();
    const gated = { apply: async (d: Uint8Array, i: number) => (i === committed && (await gate), kv.apply(d, i)), snapshot: () => kv.snapshot(), restore: (d: Uint8Array) => kv.restore(d) };
    const node = createNode<KvResult>({ nodeId: 1, peers, dataDir: dir, tickInterval: 10, maxSizePerMsg: 1024 }, gated, { secret: 'health-test secret, 128 bits or more' });
    const second = { node, http: createKvHttpServer({ node, kv }) };
    await second.node.start();
    const address = await second.http.listen('127.0.0.1:0');
    let r = await get(address, '/health');
    for (let i = 0; i < 500 && r.body.reason === 'no leader is known'; i++) r = await get(address, '/health');
    assert.is(r.status, 503, JSON.stringify(r.body));
    assert.match(String(r.body.reason), /^catching up: applied \d+ of \d+$/, JSON.stringify(r.body));
    assert.is(r.body.leader, 1);
    open();
    for (let i = 0; i < 500 && r.status !== 200; i++) r = await get(address, '/health');
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.is(r.body.status, 'ok');
    assert.ok((r.body.applied as number) >= committed, `applied ${r.body.applied} < committed at start ${committed}`);
    await second.http.close();
    await second.node.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
