/**
 * The dashboard's routes on a real member (one node on loopback, its KV HTTP server with a token):
 * the page is public, the data and controls need the token; cross-origin access only for the
 * cluster's own origins; controls only as JSON; a burst commits its writes; the event stream starts
 * with the member's history and a view of it; runner controls are refused without a runner.
 */
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNode } from '../src/actors/raft-node.ts';
import { DashboardRoutes } from '../src/dashboard/dashboard-routes.ts';
import { MemberFeed } from '../src/dashboard/member-feed.ts';
import { createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { roleMachine } from '../src/machines/role.machine.ts';
import { freePortRange } from './fixtures/port-range.ts';

const TOKEN = 'dashboard-test-token-0123456789abcdef';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

function call(http: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string; firstBytes?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${http}${path}`, { method, headers: opts.headers, agent: false, timeout: 20_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        // An event stream never ends: stop once enough arrived.
        if (opts.firstBytes !== undefined && text.includes('event: view')) {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
          req.destroy();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

test('dashboard routes on a member: access, CORS, JSON controls, burst, event stream', async () => {
  const base = await freePortRange(2);
  const raft = `127.0.0.1:${base}`;
  const http = `127.0.0.1:${base + 1}`;
  const kv = new KvStateMachine();
  const feed = new MemberFeed(1);
  const node = createNode<KvResult>({ nodeId: 1, peers: [{ id: 1, address: raft }], tickInterval: 10, electionTick: 10, heartbeatTick: 1 }, kv, { inspect: feed.inspect });
  feed.attach(node);
  const dashboard = new DashboardRoutes({
    node,
    feed,
    scheme: 'http',
    httpPeers: () => new Map([[1, http]]),
    write: (i, signal) => node.propose(encodeCommand({ op: 'put', key: `burst/${i}`, value: 'x' }), { signal }),
  });
  const server = createKvHttpServer({ node, kv, httpPeers: new Map([[1, http]]), token: TOKEN, dashboard });
  await node.start({ waitForLeader: true, signal: AbortSignal.timeout(30_000) });
  await server.listen(http);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const json = { ...auth, 'content-type': 'application/json' };
  try {
    const cases: [string, string, string, { headers?: Record<string, string>; body?: string }, number, RegExp?][] = [
      ['the page is public', 'GET', '/dashboard', {}, 200, /<script type="module" src="\/dashboard\/dashboard.js">/],
      ['its script is public', 'GET', '/dashboard/dashboard.js', {}, 200, /function drawChart/],
      ['the data needs the token', 'GET', '/dashboard/cluster', {}, 401],
      ['the stream needs the token', 'GET', '/dashboard/events', {}, 401],
      ['controls need the token', 'POST', '/dashboard/control', { headers: { 'content-type': 'application/json' }, body: '{"action":"burst"}' }, 401],
      ['a control that is not JSON is refused', 'POST', '/dashboard/control', { headers: { ...auth, 'content-type': 'text/plain' }, body: '{"action":"burst"}' }, 415],
      ['a body that is not an object', 'POST', '/dashboard/control', { headers: json, body: '[1]' }, 400, /JSON object/],
      ['an unknown action', 'POST', '/dashboard/control', { headers: json, body: '{"action":"explode"}' }, 400, /unknown action .*explode/],
      ['a burst of zero', 'POST', '/dashboard/control', { headers: json, body: '{"action":"burst","count":0}' }, 400, /from 1 to 10000/],
      ['kill without a runner', 'POST', '/dashboard/control', { headers: json, body: '{"action":"kill","id":1}' }, 501, /actor-raft cluster/],
      ['transfer with no follower', 'POST', '/dashboard/control', { headers: json, body: '{"action":"transfer"}' }, 409, /no follower/],
      ['a foreign origin fails the preflight', 'OPTIONS', '/dashboard/control', { headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } }, 403],
      ['the cluster\'s origin passes it', 'OPTIONS', '/dashboard/control', { headers: { origin: `http://localhost:${base + 1}`, 'access-control-request-method': 'POST' } }, 204],
      ['an unknown dashboard path', 'GET', '/dashboard/nope', { headers: auth }, 404],
    ];
    for (const [what, method, path, opts, status, body] of cases) {
      const a = await call(http, method, path, opts);
      assert.is(a.status, status, `${what}: ${a.text}`);
      if (body) assert.match(a.text, body, what);
    }
    const pre = await call(http, 'OPTIONS', '/dashboard/events', { headers: { origin: `http://localhost:${base + 1}` } });
    assert.is(pre.headers['access-control-allow-origin'], `http://localhost:${base + 1}`);
    assert.match(String(pre.headers['access-control-allow-headers']), /authorization/);

    const cluster = JSON.parse((await call(http, 'GET', '/dashboard/cluster', { headers: auth })).text) as { members: { id: number; http: string }[]; controls: string[]; machine: { states: string[] } };
    assert.equal(cluster.members.map((m) => [m.id, m.http]), [[1, http]]);
    assert.equal(cluster.controls, ['burst', 'transfer', 'remove'], 'no runner: no kill, restart, add, partition, heal');
    assert.equal(cluster.machine.states, Object.keys(roleMachine.root.states), 'the statechart drawn is the role machine');

    const burst = await call(http, 'POST', '/dashboard/control', { headers: json, body: '{"action":"burst","count":25}' });
    assert.is(burst.status, 200, burst.text);
    assert.is(JSON.parse(burst.text).committed, 25);
    assert.is(kv.keys('burst/').length, 25, 'the writes were applied');

    const stream = await call(http, 'GET', '/dashboard/events', { headers: { ...auth, origin: `http://127.0.0.1:${base + 1}` }, firstBytes: 1 });
    assert.is(stream.status, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    assert.is(stream.headers['access-control-allow-origin'], `http://127.0.0.1:${base + 1}`);
    const history = JSON.parse(/event: history\ndata: (.*)\n/.exec(stream.text)![1]!) as { to: string; cause: string }[];
    // A single voter campaigns at once (no pre-vote to ask anyone for).
    assert.equal(history.map((h) => h.to), ['follower', 'candidate', 'leader'], stream.text);
    assert.match(history[1]!.cause, /^TICK: election timeout/);
    assert.match(history[2]!.cause, /won the election/);
    const view = JSON.parse(/event: view\ndata: (.*)\n/.exec(stream.text)![1]!) as { role: string; commit: number; applied: number; lastIndex: number };
    assert.is(view.role, 'leader');
    assert.ok(view.commit >= 26 && view.applied === view.commit && view.lastIndex === view.commit, JSON.stringify(view));
  } finally {
    await server.close();
    await node.stop();
  }
});

test.run();
