/**
 * `POST /members/:id/transfer-leadership` and `actor-raft member transfer`, on three in-process
 * members over real TCP with their HTTP APIs: a transfer makes the target lead (sent to the leader,
 * relayed by a follower, or through the CLI); a wrong target is a clear 4xx and changes nothing; a
 * relayed request that meets a follower gets the usual 421 with the leader hint; a target that is
 * down gets 503 (retryable: the attempt was given up).
 */
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { parseCli, type MemberCommand } from '../src/cli/args.ts';
import { runMember } from '../src/cli/member.ts';
import { type KvHttpServer, createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine } from '../src/kv/kv-state-machine.ts';
import { freePorts, waitUntil } from './fixtures/free-ports.ts';

const SECRET = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

interface Reply {
  readonly status: number;
  readonly json: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
}

function call(address: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: address.slice(0, i), port: Number(address.slice(i + 1)), method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('transfer-leadership: the target leads; wrong targets are refused with 4xx; followers relay or answer 421', async () => {
  const nodes: RaftNode<KvResult>[] = [];
  const servers: KvHttpServer[] = [];
  try {
    const [p1, p2, p3, h1, h2, h3, learnerPort] = await freePorts(7);
    const peers = [p1, p2, p3].map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
    const httpPeers = new Map([h1, h2, h3].map((port, i) => [i + 1, `127.0.0.1:${port}`]));
    for (const p of peers) {
      const kv = new KvStateMachine();
      // The node gives a transfer two election timeouts (2 s here) to finish: room on a busy machine.
      const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 50, electionTick: 20, heartbeatTick: 2 }, kv, { secret: SECRET, clusterId: 'transfer' });
      nodes.push(node);
      servers.push(createKvHttpServer({ node, kv, httpPeers, requestTimeoutMs: 5000 }));
    }
    await Promise.all(nodes.map((n) => n.start()));
    await Promise.all(servers.map((s, i) => s.listen(httpPeers.get(i + 1)!)));
    const leaderId = () => nodes.find((n) => n.isLeader())?.id ?? 0;
    const agreed = async (what: string) => {
      await waitUntil(() => leaderId() !== 0 && nodes.every((n) => n.leader() === leaderId()), what);
      return leaderId();
    };
    const http = (id: number) => httpPeers.get(id)!;
    const transfer = (via: number, target: number | string, headers: Record<string, string> = {}) => call(http(via), 'POST', `/members/${target}/transfer-leadership`, headers);

    // 1. Sent to the leader: the answer comes once the target leads, and every member agrees.
    let leader = await agreed('a first leader');
    let target = [1, 2, 3].find((id) => id !== leader)!;
    const direct = await transfer(leader, target);
    assert.is(direct.status, 200, JSON.stringify(direct.json));
    assert.is(direct.json.leader, target);
    assert.is(direct.json.changed, true);
    assert.ok(nodes[target - 1]!.isLeader() || nodes[target - 1]!.status().term > (direct.json.term as number), 'the target leads in the answered term');
    assert.is(await agreed('everyone to follow the new leader'), target);

    // 2. Sent to a follower: relayed to the leader (one hop), the target leads afterwards.
    leader = target;
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    target = [1, 2, 3].find((id) => id !== leader && id !== follower)!;
    const relayed = await transfer(follower, target);
    assert.is(relayed.status, 200, JSON.stringify(relayed.json));
    assert.is(relayed.headers['x-raft-forwarded-to'], String(leader), 'the follower relayed it to the leader');
    assert.is(await agreed('everyone to follow the relayed target'), target);
    leader = target;

    // 3. To the leader itself: nothing to do.
    const self = await transfer(leader, leader);
    assert.is(self.status, 200, JSON.stringify(self.json));
    assert.is(self.json.changed, false);

    // 4. Refusals: clear statuses, nothing changes. A learner is added (never started) to be refused.
    const added = await call(http(leader), 'POST', '/members', { 'content-type': 'application/json' }, JSON.stringify({ id: 4, address: `127.0.0.1:${learnerPort}`, learner: true }));
    assert.is(added.status, 200, JSON.stringify(added.json));
    const someFollower = [1, 2, 3].find((id) => id !== leader)!;
    const refusals: [string, () => Promise<Reply>, number, RegExp][] = [
      ['a node that is not a member', () => transfer(leader, 9), 404, /node 9 is not a member/],
      ['a node that is not a member, via a follower', () => transfer(someFollower, 9), 404, /node 9 is not a member/],
      ['a learner', () => transfer(leader, 4), 409, /node 4 is a learner and cannot lead; promote it first/],
      ['a bad id', () => transfer(leader, 'two'), 400, /bad member id "two"/],
      ['GET instead of POST', () => call(http(leader), 'GET', `/members/${someFollower}/transfer-leadership`), 405, /method not allowed/],
      ['a misspelt action', () => call(http(leader), 'POST', `/members/${someFollower}/transferleadership`), 404, /transfer-leadership/],
    ];
    for (const [what, send, status, message] of refusals) {
      const r = await send();
      assert.is(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
      assert.match(String(r.json.error), message, what);
      assert.is(r.json.retryable, false, `${what}: not retryable`);
    }
    assert.is(await agreed('the leader unchanged after the refusals'), leader);

    // 5. A relayed request that meets a follower is not relayed again: 421 with the leader hint.
    const notLeader = await transfer(someFollower, leader, { 'x-raft-forwarded-by': '9' });
    assert.is(notLeader.status, 421, JSON.stringify(notLeader.json));
    assert.is(notLeader.json.leader, leader);
    assert.is(notLeader.headers['x-raft-leader'], String(leader));
    assert.is(notLeader.headers.location, `http://${http(leader)}/members/${leader}/transfer-leadership`);
    assert.is(notLeader.json.retryable, true);

    // 6. The CLI: `actor-raft member transfer ID` through a follower.
    target = someFollower;
    const viaCli = [1, 2, 3].find((id) => id !== leader && id !== target)!;
    const cmd = parseCli(['member', 'transfer', String(target), '--endpoint', `http://${http(viaCli)}`, '--timeout', '10000'], {}) as MemberCommand;
    let out = '';
    let err = '';
    const code = await runMember(cmd, (s) => (out += s), (s) => (err += s));
    assert.is(code, 0, err);
    assert.match(out, new RegExp(`leadership moved to node ${target} in term \\d+`));
    assert.match(out, new RegExp(`\\n${target}\\s+voter\\s+\\S+\\s+yes`), 'the table marks the new leader');
    assert.is(await agreed('everyone to follow the CLI target'), target);
    leader = target;

    // 7. A target that is down: the node gives up after two election timeouts; 503, retryable.
    const down = [1, 2, 3].find((id) => id !== leader)!;
    await servers[down - 1]!.close();
    await nodes[down - 1]!.stop();
    const gaveUp = await transfer(leader, down);
    assert.is(gaveUp.status, 503, JSON.stringify(gaveUp.json));
    assert.match(String(gaveUp.json.error), new RegExp(`leadership transfer to node ${down} did not complete`));
    assert.is(gaveUp.json.retryable, true);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  }
});

test.run();
