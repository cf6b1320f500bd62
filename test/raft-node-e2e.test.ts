/**
 * End to end: three `actor-raft node` OS processes over TCP with DiskStorage. Writes go through
 * every member over HTTP, 20 at a time; the leader is killed with SIGKILL in the middle; a new one
 * is elected and the writes go on; the old leader restarts on its data dir and catches up. Then all
 * three must hold the same map (GET /kv?digest=true) and every acknowledged write.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { ProcessCluster, closeHttpAgent, httpRequest, waitFor } from './fixtures/cli-cluster.ts';
import { sleep } from './fixtures/free-ports.ts';

const KEYS = 1000;
const CONCURRENCY = 20;
const KILL_AFTER = 400;

const keyOf = (i: number) => `key-${String(i).padStart(4, '0')}`;
const valueOf = (i: number) => `value-${i}-${'x'.repeat(i % 17)}`;

interface DigestBody {
  applied: number;
  count: number;
  digest: string;
}

test('three processes: 1000 writes, SIGKILL of the leader, restart, identical state, no acknowledged write lost', async () => {
  const started = Date.now();
  const cluster = await ProcessCluster.create(3, { tickMs: 50 });
  try {
    await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
    const firstLeader = await waitFor(() => cluster.agreedLeader(), 'the first leader', 15_000);
    const electedAt = Date.now();

    const acked = new Map<number, { node: number; index: number }>();
    let attempts = 0;
    let failures = 0;
    let killedAt = 0;
    let newLeaderAfterMs = 0;
    let killPromise: Promise<void> | undefined;
    let ackedBeforeKill = 0;
    let msBeforeKill = 0;

    const writeKey = async (i: number): Promise<void> => {
      const deadline = Date.now() + 30_000;
      for (let attempt = 0; ; attempt++) {
        const up = cluster.members.filter((m) => cluster.isUp(m.id));
        const target = up[(i + attempt) % up.length]!;
        attempts++;
        try {
          const res = await httpRequest(target.http, 'PUT', `/kv/${encodeURIComponent(keyOf(i))}`, valueOf(i));
          const body = JSON.parse(res.text) as { ok?: boolean; index?: number; error?: string };
          if (res.status === 200 && body.ok) {
            acked.set(i, { node: target.id, index: body.index! });
            if (acked.size === KILL_AFTER && !killPromise) {
              msBeforeKill = Date.now() - electedAt;
              ackedBeforeKill = acked.size;
              killPromise = killLeader();
            }
            return;
          }
          assert.ok([421, 503, 504].includes(res.status), `unexpected answer ${res.status} ${JSON.stringify(body)}`);
        } catch (err) {
          if ((err as Error).name === 'AssertionError') throw err;
          // Connection refused or reset: the member was killed. Try another.
        }
        failures++;
        if (Date.now() > deadline) throw new Error(`write ${i} kept failing for 30 s`);
        await sleep(50);
      }
    };

    const killLeader = async (): Promise<void> => {
      const leader = await waitFor(() => cluster.agreedLeader(), 'a leader to kill', 10_000);
      await cluster.kill(leader);
      killedAt = Date.now();
      const next = await waitFor(
        async () => {
          const l = await cluster.agreedLeader();
          return l !== undefined && l !== leader ? l : undefined;
        },
        'a new leader after SIGKILL',
        15_000,
        10,
      );
      newLeaderAfterMs = Date.now() - killedAt;
      console.log(`    killed leader ${leader} after ${ackedBeforeKill} writes; node ${next} leads ${newLeaderAfterMs} ms later`);
    };

    let nextKey = 0;
    const writeStart = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (nextKey < KEYS) await writeKey(nextKey++);
      }),
    );
    const writeMs = Date.now() - writeStart;
    await killPromise;
    assert.is(acked.size, KEYS, 'every key was eventually acknowledged');
    const killed = cluster.members.find((m) => !cluster.isUp(m.id))!;
    assert.ok(killed, 'one member is down');

    // Writes go on with two members, then the old leader restarts on its own data dir.
    for (let i = 0; i < 20; i++) await writeKey(KEYS + i);
    const restartAt = Date.now();
    await cluster.start(killed.id);

    const expected = new KvStateMachine();
    for (const i of acked.keys()) expected.apply(encodeCommand({ op: 'put', key: keyOf(i), value: valueOf(i) }), 1);
    const digests = await waitFor(
      async () => {
        const all = await Promise.all(
          cluster.members.map(async (m) => {
            try {
              const res = await httpRequest(m.http, 'GET', '/kv?digest=true&stale=true', undefined, 2000);
              return JSON.parse(res.text) as DigestBody;
            } catch {
              return undefined;
            }
          }),
        );
        return all.every((d) => d && d.digest === expected.digest() && d.applied === all[0]!.applied) ? (all as DigestBody[]) : undefined;
      },
      'all three members to hold every acknowledged write',
      20_000,
    );
    const catchUpMs = Date.now() - restartAt;
    for (const d of digests) assert.is(d.count, KEYS + 20);

    // Linearizable reads through every member see acknowledged writes, and every key is listed.
    for (const m of cluster.members) {
      for (const i of [0, 1, KILL_AFTER - 1, KILL_AFTER, KEYS - 1, KEYS + 19]) {
        const res = await httpRequest(m.http, 'GET', `/kv/${keyOf(i)}`);
        assert.is(res.status, 200, `GET ${keyOf(i)} on node ${m.id}`);
        assert.is(res.text, valueOf(i));
        assert.ok(Number(res.headers['x-raft-read-index']) > 0, 'a linearizable read names its read index');
      }
      const list = JSON.parse((await httpRequest(m.http, 'GET', '/kv?stale=true')).text) as { keys: string[] };
      const keys = new Set(list.keys);
      for (const i of acked.keys()) assert.ok(keys.has(keyOf(i)), `acknowledged ${keyOf(i)} is on node ${m.id}`);
    }
    const statuses = await Promise.all(cluster.members.map((m) => cluster.status(m.id)));
    const commit = statuses[0]!.commit;
    for (const s of statuses) assert.is(s!.applied, commit, `node ${s!.id} applied everything committed`);

    const total = Date.now() - started;
    console.log(
      `    first leader ${firstLeader}; ${KEYS} writes in ${writeMs} ms (${Math.round(KEYS / (writeMs / 1000))}/s overall, ` +
        `${Math.round(ackedBeforeKill / (msBeforeKill / 1000))}/s before the kill); ${attempts} attempts, ${failures} refused or failed; ` +
        `new leader ${newLeaderAfterMs} ms after SIGKILL; restarted member caught up in ${catchUpMs} ms; test ${total} ms`,
    );
  } catch (err) {
    console.error(cluster.output().split('\n').slice(-80).join('\n'));
    throw err;
  } finally {
    await cluster.destroy();
    closeHttpAgent();
  }
});

test.run();
