/**
 * With HTTPS on, a follower relays membership requests to the leader over HTTPS and verifies the
 * leader's certificate: three in-process members over real TCP, each KvHttpServer serving HTTPS
 * with one shared self-signed certificate (made by openssl, a prerequisite of the suite).
 */
import { request as httpsRequest } from 'node:https';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { type KvHttpServer, createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine } from '../src/kv/kv-state-machine.ts';
import { freePorts, waitUntil } from './fixtures/free-ports.ts';
import { selfSignedCert } from './fixtures/tls-cert.ts';

const SECRET = '5f0c2a9e4b7d1836c0e9a2f4b6d8e1a3';
const TOKEN = 'relay-test-token-0123456789abcdef';

const learners = (n: RaftNode<KvResult>) => n.members().filter((m) => m.role === 'learner').map((m) => m.id);

interface Reply {
  readonly status: number;
  readonly json: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
}

function call(address: string, ca: string, method: string, path: string, body?: string): Promise<Reply> {
  const i = address.lastIndexOf(':');
  const headers: Record<string, string | number> = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: address.slice(0, i), port: Number(address.slice(i + 1)), method, path, headers, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('HTTPS: a membership change sent to a follower is relayed to the leader over HTTPS and applied', async () => {
  const shared = selfSignedCert();
  const other = selfSignedCert('/CN=another-cluster');
  const nodes: RaftNode<KvResult>[] = [];
  const servers: KvHttpServer[] = [];
  try {
    const [p1, p2, p3, h1, h2, h3, learnerPort] = await freePorts(7);
    const peers = [p1, p2, p3].map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
    const httpPeers = new Map([h1, h2, h3].map((port, i) => [i + 1, `127.0.0.1:${port}`]));
    for (const p of peers) {
      const kv = new KvStateMachine();
      const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 10, electionTick: 10, heartbeatTick: 1 }, kv, { secret: SECRET, clusterId: 'https-relay' });
      nodes.push(node);
      servers.push(createKvHttpServer({ node, kv, httpPeers, token: TOKEN, requestTimeoutMs: 3000, tls: { cert: shared.cert, key: shared.key } }));
    }
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(servers.map((s, i) => s.listen(httpPeers.get(i + 1)!)));
    await waitUntil(() => nodes.some((n) => n.isLeader()) && nodes.every((n) => n.leader() !== 0 && n.leader() === nodes.find((m) => m.isLeader())!.id), 'one leader every member knows');
    const leader = nodes.find((n) => n.isLeader())!;
    const follower = nodes.find((n) => n !== leader)!;

    const added = await call(httpPeers.get(follower.id)!, shared.cert, 'POST', '/members', JSON.stringify({ id: 4, address: `127.0.0.1:${learnerPort}`, learner: true }));
    assert.is(added.status, 200, JSON.stringify(added.json));
    assert.is(added.headers['x-raft-forwarded-to'], String(leader.id), 'the follower relayed it to the leader');
    assert.equal(learners(leader), [4], 'the leader applied the change');
    await waitUntil(() => learners(follower).includes(4), 'the follower applied it too');

    // A follower whose certificate is not the leader's (and no CA given) does not trust the leader:
    // the relay is refused at the TLS handshake, nothing is changed, and the error says https://.
    const strangerPort = (await freePorts(1))[0]!;
    const stranger = createKvHttpServer({ node: follower, kv: new KvStateMachine(), httpPeers, token: TOKEN, requestTimeoutMs: 3000, tls: { cert: other.cert, key: other.key } });
    servers.push(stranger);
    await stranger.listen(`127.0.0.1:${strangerPort}`);
    const refused = await call(`127.0.0.1:${strangerPort}`, other.cert, 'POST', '/members', JSON.stringify({ id: 5, address: '127.0.0.1:1', learner: true }));
    assert.is(refused.status, 503, JSON.stringify(refused.json));
    assert.match(String(refused.json.error), new RegExp(`the leader \\(node ${leader.id} at https://127\\.0\\.0\\.1:\\d+\\) could not be reached: .*(self.signed|certificate)`, 'i'));
    assert.equal(learners(leader), [4], 'nothing was changed');

    // The same follower trusts the leader once given the cluster's certificate as its CA.
    const trusting = createKvHttpServer({ node: follower, kv: new KvStateMachine(), httpPeers, token: TOKEN, requestTimeoutMs: 3000, tls: { cert: other.cert, key: other.key, ca: shared.cert } });
    servers.push(trusting);
    const trustingPort = (await freePorts(1))[0]!;
    await trusting.listen(`127.0.0.1:${trustingPort}`);
    const removed = await call(`127.0.0.1:${trustingPort}`, other.cert, 'DELETE', '/members/4');
    assert.is(removed.status, 200, JSON.stringify(removed.json));
    assert.equal(learners(leader), [], 'the removal was relayed and applied');
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(nodes.map((n) => n.stop()));
    shared.remove();
    other.remove();
  }
});

test.run();
