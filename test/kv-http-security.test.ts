/**
 * The request entry of the KV HTTP API: bearer token, HTTPS, the 1 MiB body cap, a leading BOM
 * kept in values; and `actor-raft secret`. A single-member node in process, real sockets.
 */
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNode } from '../src/actors/raft-node.ts';
import { validateSecret } from '../src/config.ts';
import { KV_MAX_BODY_BYTES, KV_MAX_SIZE_PER_MSG, type KvHttpServer, createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine } from '../src/kv/kv-state-machine.ts';
import { freePorts, waitUntil } from './fixtures/free-ports.ts';
import { selfSignedCert } from './fixtures/tls-cert.ts';

const TOKEN = 'http-token-0123456789abcdef-0123456789';

interface Reply {
  status: number;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

function call(server: KvHttpServer, method: string, path: string, opts: { body?: Buffer | string; token?: string; ca?: Buffer | string } = {}): Promise<Reply> {
  const [host, port] = [server.address().slice(0, server.address().lastIndexOf(':')), Number(server.address().split(':').pop())];
  const headers: Record<string, string | number> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  const send = server.scheme === 'https' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({ host, port, method, path, headers, ca: opts.ca, servername: 'localhost', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function single(opts: { token?: string; tls?: { cert: Buffer | string; key: Buffer | string } } = {}) {
  const [port] = await freePorts(1);
  const kv = new KvStateMachine();
  const node = createNode<KvResult>({ nodeId: 1, peers: [{ id: 1, address: `127.0.0.1:${port}` }], tickInterval: 10, maxSizePerMsg: KV_MAX_SIZE_PER_MSG }, kv);
  await node.start();
  await waitUntil(() => node.isLeader(), 'the single member leads');
  const server = createKvHttpServer({ node, kv, ...opts });
  await server.listen('127.0.0.1:0');
  return { node, kv, server, stop: async () => (await server.close(), await node.stop()) };
}

test('bearer token: missing or wrong → 401 with WWW-Authenticate, right → served', async () => {
  const s = await single({ token: TOKEN });
  try {
    const cases: [string, string | undefined, number][] = [
      ['no token', undefined, 401],
      ['wrong token', `${TOKEN}x`, 401],
      ['a prefix of the token', TOKEN.slice(0, 10), 401],
      ['the token', TOKEN, 200],
    ];
    for (const [name, token, status] of cases) {
      const put = await call(s.server, 'PUT', '/kv/a', { body: 'v', token });
      assert.is(put.status, status, `PUT with ${name}`);
      const get = await call(s.server, 'GET', '/status', { token });
      assert.is(get.status, status, `GET with ${name}`);
      if (status === 401) assert.match(String(get.headers['www-authenticate']), /^Bearer/);
    }
    assert.is(s.kv.get('a'), 'v', 'only the authorized write happened');
    assert.is(s.kv.size, 1);
  } finally {
    await s.stop();
  }
});

test('a leading BOM is part of the value: stored, returned and compared byte for byte', async () => {
  const s = await single();
  try {
    const value = '\uFEFFhello';
    assert.is((await call(s.server, 'PUT', '/kv/bom', { body: value })).status, 200);
    assert.is(s.kv.get('bom'), value);
    const got = await call(s.server, 'GET', '/kv/bom');
    assert.equal([...got.body.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'the BOM comes back');
    const cas = await call(s.server, 'PUT', `/kv/bom?prevValue=${encodeURIComponent(value)}`, { body: 'next' });
    assert.is(cas.status, 200, 'a CAS with the exact value written matches');
    assert.is((await call(s.server, 'PUT', `/kv/bom?prevValue=${encodeURIComponent('hello')}`, { body: 'x' })).status, 412, 'without the BOM it does not');
  } finally {
    await s.stop();
  }
});

test('the body cap is exactly 1 MiB', async () => {
  const s = await single();
  try {
    assert.is(KV_MAX_BODY_BYTES, 1024 * 1024);
    const atCap = await call(s.server, 'PUT', '/kv/big', { body: Buffer.alloc(KV_MAX_BODY_BYTES, 'a') });
    assert.is(atCap.status, 200, atCap.body.toString());
    assert.is(s.kv.get('big')!.length, KV_MAX_BODY_BYTES);
    const over = await call(s.server, 'PUT', '/kv/big2', { body: Buffer.alloc(KV_MAX_BODY_BYTES + 1, 'a') }).catch((e: Error) => ({ status: -1, error: e }));
    assert.is(over.status, 413);
  } finally {
    await s.stop();
  }
});

test('HTTPS with a certificate (generated by openssl, a prerequisite)', async () => {
  const tls = selfSignedCert();
  try {
    const cert = tls.cert;
    const s = await single({ token: TOKEN, tls: { cert, key: tls.key } });
    try {
      assert.is(s.server.scheme, 'https');
      assert.is((await call(s.server, 'PUT', '/kv/t', { body: 'over tls', token: TOKEN, ca: cert })).status, 200);
      assert.is((await call(s.server, 'GET', '/kv/t?stale=true', { ca: cert })).status, 401, 'the token is still required');
      const untrusted = await call(s.server, 'GET', '/status', { token: TOKEN }).then(() => 'answered', (e: Error) => e.message);
      assert.match(untrusted, /self.signed|certificate/i, 'a client that does not trust the certificate is refused');
    } finally {
      await s.stop();
    }
  } finally {
    tls.remove();
  }
});

test('actor-raft secret prints a fresh 256-bit hex secret that the library accepts', () => {
  const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  const run = () => execFileSync(process.execPath, ['--import', 'tsx', main, 'secret'], { encoding: 'utf8' }).trim();
  const [a, b] = [run(), run()];
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.is.not(a, b, 'fresh every time');
  assert.ok(validateSecret(a));
});

test.run();
