/**
 * Issue 9's reproduction with real `actor-raft node` processes over TCP and DiskStorage: a member
 * that acknowledged a write loses its data directory and comes back under its old node id. It is
 * refused (and refuses), no acknowledged write is lost, and the replace procedure of
 * docs/membership.md (`member remove`, `member add`, start with `--join`) brings it back with the
 * same digest as the others.
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProcessCluster, closeHttpAgent, httpRequest, runCli, waitFor } from './fixtures/cli-cluster.ts';
import { sleep } from './fixtures/free-ports.ts';

test('a wiped member is refused under its old id; the acknowledged write survives; member remove + add + --join replaces it', async () => {
  const cluster = await ProcessCluster.create(3, { tickMs: 50 });
  const cli = (args: string[], via: number) => runCli([...args, '--endpoint', `http://${cluster.member(via).http}`, '--timeout', '20000']);
  const kv = async (id: number, key: string) => httpRequest(cluster.member(id).http, 'GET', `/kv/${key}`, undefined, 3000).catch(() => ({ status: 0, text: '' }));
  try {
    await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
    const L = await waitFor(() => cluster.agreedLeader(), 'a leader', 20_000);
    const [S, W] = [1, 2, 3].filter((id) => id !== L) as [number, number];
    for (let i = 0; i < 5; i++) assert.is((await httpRequest(cluster.member(L).http, 'PUT', `/kv/k${i}`, `v${i}`)).status, 200);

    // 1. S stops; a write through L is acknowledged (committed on L and W).
    await cluster.kill(S);
    const put = await httpRequest(cluster.member(L).http, 'PUT', '/kv/lost-me', 'acknowledged');
    assert.is(put.status, 200, put.text);
    // 2. W stops and its data directory is removed; L stops.
    await cluster.kill(W);
    rmSync(cluster.member(W).dataDir, { recursive: true, force: true });
    await cluster.kill(L);

    // 3. S and the wiped W come back. W, told to found the cluster again, is refused by S and exits.
    await cluster.start(S);
    await cluster.start(W).catch(() => {});
    await waitFor(async () => (cluster.isUp(W) ? undefined : true), 'the wiped member to refuse to start', 15_000);
    assert.match(cluster.member(W).output, new RegExp(`node ${S} knows node ${W} by another data directory.*member remove ${W}`));
    // Started with --join instead, it runs, but is refused by S and refuses S: nobody leads.
    await cluster.start(W, ['--join']);
    await waitFor(async () => (new RegExp(`node ${W} presents a new data directory`).test(cluster.member(S).output) ? true : undefined), `node ${S} to refuse node ${W}`, 15_000);
    await sleep(2000); // 40 ticks: four election timeouts
    for (const id of [S, W]) {
      const st = await cluster.status(id);
      assert.ok(st && st.raftState !== 'leader' && st.lead === 0, `node ${id} must not lead or follow anyone: ${JSON.stringify(st)}`);
    }
    assert.not.equal((await kv(S, 'lost-me')).status, 404, 'no member may answer that the acknowledged write does not exist');
    const refusedLines = cluster.member(S).output.split('\n').filter((l) => l.includes(`node ${W} presents a new data directory`));
    assert.is(refusedLines.length, 1, 'one line, not one per message');
    assert.match(refusedLines[0]!, new RegExp(`actor-raft member remove ${W}.*member add ${W}.*--join`));

    // 4. L returns: a leader with the write is elected.
    await cluster.start(L);
    const leader = await waitFor(async () => {
      const [a, b] = await Promise.all([cluster.status(L), cluster.status(S)]);
      return a && b && a.lead !== 0 && a.lead === b.lead ? a.lead : undefined;
    }, 'a leader among the intact members', 20_000);
    assert.ok(leader !== W);
    const read = await kv(leader, 'lost-me');
    assert.is(read.status, 200, read.text);
    assert.is(read.text, 'acknowledged');

    // 5. Replace W: stop it, empty its directory, remove and add it, start it with --join.
    await cluster.kill(W);
    rmSync(cluster.member(W).dataDir, { recursive: true, force: true });
    const removed = await cli(['member', 'remove', String(W)], S);
    assert.is(removed.code, 0, removed.stderr);
    const added = await cli(['member', 'add', String(W), cluster.member(W).raft], S);
    assert.is(added.code, 0, added.stderr);
    await cluster.start(W, ['--join']);
    const after = await httpRequest(cluster.member(leader).http, 'PUT', '/kv/after', 'replaced');
    assert.is(after.status, 200, after.text);
    const digests = await waitFor(async () => {
      const bodies = await Promise.all([1, 2, 3].map(async (id) => {
        const r = await httpRequest(cluster.member(id).http, 'GET', '/kv?digest=true&stale=true', undefined, 2000).catch(() => undefined);
        return r?.status === 200 ? (JSON.parse(r.text) as { applied: number; digest: string }) : undefined;
      }));
      return bodies.every((b) => b && b.digest === bodies[0]!.digest && b.applied === bodies[0]!.applied) ? bodies : undefined;
    }, 'equal digests on all three members', 20_000);
    assert.ok(digests[0]!.applied > 0);
    const back = await httpRequest(cluster.member(W).http, 'GET', '/kv/lost-me?stale=true');
    assert.is(back.text, 'acknowledged', 'the replaced member holds the write');
  } catch (err) {
    console.error(cluster.output());
    throw err;
  } finally {
    await cluster.destroy();
    closeHttpAgent();
  }
});

test.run();
