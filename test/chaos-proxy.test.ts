/**
 * The chaos runner's network: real BidirectionalTransports whose peers are reached through one
 * MemberProxy each. Traffic flows through the proxies; a partition stops exactly the cut pairs, in
 * both directions, while the others keep talking; healing lets the transports reconnect.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType, type Message } from '../src/raft/raftpb.ts';
import { LinkRules, MemberProxy } from '../scripts/chaos-proxy.ts';
import { type TestNode, sleep, startNode, stopAll, waitFor } from './fixtures/transport-cluster.ts';

const heartbeat = (from: number, to: number, commit: number): Message =>
  ({ type: MessageType.MsgHeartbeat, from, to, term: 1, logTerm: 0, index: 0, entries: [], commit, reject: false, rejectHint: 0 }) as unknown as Message;

async function proxiedCluster(count: number): Promise<{ nodes: TestNode[]; proxies: MemberProxy[]; rules: LinkRules }> {
  const rules = new LinkRules();
  const nodes: TestNode[] = [];
  const proxies: MemberProxy[] = [];
  for (let id = 1; id <= count; id++) {
    const n = await startNode(id);
    const [host, port] = n.transport.address().split(':');
    const p = new MemberProxy(id, { host: host!, port: Number(port) }, rules);
    await p.start();
    nodes.push(n);
    proxies.push(p);
  }
  for (const a of nodes) for (const b of nodes) if (a !== b) a.transport.addPeer(b.id, `127.0.0.1:${proxies[b.id - 1]!.port}`);
  return { nodes, proxies, rules };
}

const from = (n: TestNode, id: number) => n.received.filter((m) => m.from === id).length;

test('traffic passes the proxies; a partition cuts exactly its links, both ways; healing reconnects', async () => {
  const { nodes, proxies, rules } = await proxiedCluster(3);
  const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
  let commit = 0;
  const sendAll = () => {
    commit++;
    for (const a of nodes) for (const b of nodes) if (a !== b) a.transport.send(heartbeat(a.id, b.id, commit));
  };
  try {
    await waitFor(() => {
      sendAll();
      return nodes.every((n) => nodes.every((o) => o === n || from(n, o.id) > 0));
    }, 'every pair talking through the proxies', 10_000);

    rules.partition([[1], [2, 3]]);
    for (const p of proxies) p.enforce();
    await sleep(50);
    const before = { n2from1: from(n2, 1), n1from2: from(n1, 2), n1from3: from(n1, 3), n3from2: from(n3, 2) };
    // 2 and 3 keep talking: the time this takes is time in which 1's messages could have passed.
    await waitFor(() => {
      sendAll();
      return from(n3, 2) >= before.n3from2 + 20;
    }, '2 -> 3 while 1 is cut off', 10_000);
    assert.is(from(n2, 1), before.n2from1, 'nothing from 1 reaches 2');
    assert.is(from(n1, 2), before.n1from2, 'nothing from 2 reaches 1');
    assert.is(from(n1, 3), before.n1from3, 'nothing from 3 reaches 1');
    assert.ok(proxies.some((p) => p.refused > 0), 'redials over a cut link were refused');

    rules.heal();
    await waitFor(() => {
      sendAll();
      return from(n2, 1) > before.n2from1 && from(n1, 2) > before.n1from2 && from(n1, 3) > before.n1from3;
    }, 'traffic across the healed links', 20_000);
  } finally {
    await stopAll(nodes);
    await Promise.all(proxies.map((p) => p.stop()));
  }
});

test('link rules: a ring of five cuts the non-neighbours, halves cut across', () => {
  const rules = new LinkRules();
  const ring = [1, 2, 3, 4, 5];
  const cut: [number, number][] = [];
  for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) if (Math.min(j - i, 5 - (j - i)) > 1) cut.push([ring[i]!, ring[j]!]);
  rules.cutLinks(cut);
  assert.is(rules.cutCount, 5);
  for (const id of ring) assert.is(ring.filter((o) => o !== id && rules.allowed(id, o)).length, 2, `member ${id} keeps two neighbours`);
  rules.partition([[1, 2], [3, 4, 5]]);
  assert.ok(rules.allowed(1, 2) && rules.allowed(3, 5));
  assert.not.ok(rules.allowed(2, 3) || rules.allowed(5, 1));
  rules.heal();
  assert.is(rules.cutCount, 0);
});

test.run();
