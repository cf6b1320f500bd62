/**
 * Stopping members under write load tells clients the truth. Five RaftNodes in one process talk
 * over real TCP, each behind the KV HTTP API; 64 clients send create-only writes (one key per
 * attempt, never retried) to every member while a follower and then the leader are stopped with
 * stop(). Afterwards the three survivors must agree, and:
 *   - every write answered 2xx is applied (on the survivors, and on the member that answered);
 *   - no write answered 503 ("not applied, retry") is applied anywhere;
 *   - 504 ("may or may not") is the only other answer.
 * Under the old teardown (every pending proposal rejected with StoppedError before the apply
 * stream drained) writes that were already appended were answered 503 and applied anyway.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RaftNode, createNode } from '../src/actors/raft-node.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { type KvHttpServer, createKvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine, encodeCommand } from '../src/kv/kv-state-machine.ts';
import { ProposalOutcomeUnknownError, StoppedError } from '../src/errors.ts';
import { closeHttpAgent, httpRequest } from './fixtures/cli-cluster.ts';
import { freePorts, waitUntil } from './fixtures/free-ports.ts';

const MEMBERS = 5;
const CONCURRENCY = 64;
const ATTEMPTS = 900;
const STOP_FOLLOWER_AT = 150;
const STOP_LEADER_AT = 350;

interface Member {
  readonly id: number;
  readonly node: RaftNode<KvResult>;
  readonly kv: KvStateMachine;
  readonly http: string;
  readonly server: KvHttpServer;
  stopped: boolean;
}

const keyOf = (i: number) => `w-${String(i).padStart(4, '0')}`;

test('stopping a follower and then the leader under write load: 2xx means applied, 503 means not applied', async () => {
  const ports = await freePorts(MEMBERS * 2);
  const peers = Array.from({ length: MEMBERS }, (_, i) => ({ id: i + 1, address: `127.0.0.1:${ports[i]}` }));
  const httpPeers = new Map(peers.map((p, i) => [p.id, `127.0.0.1:${ports[MEMBERS + i]}`]));
  const members: Member[] = peers.map((p) => {
    const kv = new KvStateMachine();
    const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 10, electionTick: 10, heartbeatTick: 1 }, kv, {
      secret: 'stop under load: a secret above the 128-bit floor',
      clusterId: 'stop-under-load',
      storage: new MemoryStorage(),
    });
    return { id: p.id, node, kv, http: httpPeers.get(p.id)!, server: createKvHttpServer({ node, kv, httpPeers, requestTimeoutMs: 3000 }), stopped: false };
  });
  const leaderOf = async (among: Member[]): Promise<Member> => {
    let found: Member | undefined;
    await waitUntil(() => {
      found = among.find((m) => m.node.isLeader() && among.every((o) => o.node.leader() === m.id));
      return found !== undefined;
    }, 'a leader every running member knows', 15_000);
    return found!;
  };
  try {
    await Promise.all(members.map((m) => m.node.start()));
    await Promise.all(members.map((m) => m.server.listen(m.http)));
    const firstLeader = await leaderOf(members);

    const answers = new Map<number, { status: number; by: number; text: string }>();
    let next = 0;
    let acked = 0;
    const stops: Promise<void>[] = [];
    let stoppedFollower: Member | undefined;
    /** What each stopped member knew to be committed when stop() was called. */
    const committedAtStop = new Map<number, number>();
    const stop = (m: Member) => {
      m.stopped = true;
      committedAtStop.set(m.id, m.node.status().commit);
      stops.push(m.node.stop());
    };
    const client = async () => {
      for (let i = next++; i < ATTEMPTS; i = next++) {
        const target = members[i % MEMBERS]!;
        // A connection lost without an answer (a keep-alive socket closed as it was reused) tells
        // the client nothing: recorded as status 0, an unknown outcome like a 504.
        const res = await httpRequest(target.http, 'PUT', `/kv/${keyOf(i)}?prevExist=false`, `v${i}`, 10_000).catch((e: Error) => ({ status: 0, text: e.message }));
        answers.set(i, { status: res.status, by: target.id, text: res.text });
        if (res.status === 200 && ++acked === STOP_FOLLOWER_AT) {
          stoppedFollower = members.find((m) => m !== firstLeader)!;
          stop(stoppedFollower);
        }
        if (acked === STOP_LEADER_AT && !firstLeader.stopped) stop(firstLeader);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    await Promise.all(stops);
    assert.ok(stoppedFollower && firstLeader.stopped, 'both stops happened under load');
    // stop() resolved only after applying everything the member knew to be committed.
    for (const [id, commit] of committedAtStop) assert.ok(members[id - 1]!.kv.applied >= commit, `node ${id} applied ${members[id - 1]!.kv.applied} < ${commit} committed at stop()`);

    // The survivors elect a leader, commit a last write, and converge.
    const survivors = members.filter((m) => !m.stopped);
    const leader = await leaderOf(survivors);
    const last = await httpRequest(leader.http, 'PUT', '/kv/last', 'x');
    assert.is(last.status, 200, last.text);
    const lastIndex = (JSON.parse(last.text) as { index: number }).index;
    await waitUntil(() => survivors.every((m) => m.kv.applied >= lastIndex), 'every survivor applied the last write', 10_000);
    assert.ok(survivors.every((m) => m.kv.digest() === survivors[0]!.kv.digest()), 'the survivors hold the same map');

    const counts: Record<number, number> = {};
    const wrong: string[] = [];
    for (const [i, a] of answers) {
      counts[a.status] = (counts[a.status] ?? 0) + 1;
      const applied = survivors[0]!.kv.get(keyOf(i)) !== undefined;
      if (a.status === 200) {
        if (!applied) wrong.push(`${keyOf(i)} answered 200 by node ${a.by} is not applied`);
        if (members[a.by - 1]!.kv.get(keyOf(i)) !== `v${i}`) wrong.push(`${keyOf(i)} answered 200 by node ${a.by} is not applied on node ${a.by}`);
      } else if (a.status === 503) {
        if (applied) wrong.push(`${keyOf(i)} answered 503 by node ${a.by} was applied: ${a.text.trim()}`);
        if (!/"retryable":true/.test(a.text)) wrong.push(`${keyOf(i)}: a 503 without retryable: ${a.text.trim()}`);
      } else if (a.status !== 504 && a.status !== 0) {
        wrong.push(`${keyOf(i)}: unexpected ${a.status} from node ${a.by}: ${a.text.trim()}`);
      }
    }
    const summary = `answers ${JSON.stringify(counts)}; stopped follower ${stoppedFollower!.id}, then leader ${firstLeader.id}`;
    console.log(`  stop under load: ${summary}`);
    for (const [i, a] of answers) if (a.status === 0) console.log(`  no answer for ${keyOf(i)} from node ${a.by}: ${a.text}`);
    assert.equal(wrong.slice(0, 10), [], `${wrong.length} wrong answers (${summary})`);
    assert.is(answers.size, ATTEMPTS);
    assert.ok((counts[200] ?? 0) >= STOP_LEADER_AT, summary);
    assert.ok((counts[503] ?? 0) > 0, `the stopped members refused writes (${summary})`);
  } finally {
    await Promise.all(members.map((m) => m.server.close()));
    await Promise.all(members.map((m) => m.node.stop()));
    closeHttpAgent();
  }
});

/** A state machine whose apply takes a turn of the event loop, as one that writes somewhere would. */
class SlowKv extends KvStateMachine {
  /** The log index of every command applied: a leader's empty no-op entry is never one of them. */
  readonly commandIndexes: number[] = [];
  override apply(data: Uint8Array, index: number): KvResult {
    this.commandIndexes.push(index);
    return new Promise<KvResult>((resolve) => setImmediate(() => resolve(super.apply(data, index)))) as unknown as KvResult;
  }
}

test('stop() applies every entry known committed before it resolves; what is left is an unknown outcome, never "stopped"', async () => {
  const ports = await freePorts(3);
  const peers = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }));
  const members = peers.map((p) => {
    const kv = new SlowKv();
    const node = createNode<KvResult>({ nodeId: p.id, peers, tickInterval: 10, electionTick: 10, heartbeatTick: 1 }, kv, { secret: 'slow apply: a secret above the 128-bit floor', clusterId: 'slow-apply', storage: new MemoryStorage() });
    return { id: p.id, node, kv };
  });
  try {
    await Promise.all(members.map((m) => m.node.start()));
    let leader: (typeof members)[number] | undefined;
    await waitUntil(() => (leader = members.find((m) => m.node.isLeader() && members.every((o) => o.node.leader() === m.id))) !== undefined, 'a leader', 15_000);
    const n = 400;
    await waitUntil(() => leader!.node.status().applied === leader!.node.status().commit, 'the leader applied its no-op', 5000);
    const base = leader!.node.status().commit;
    // Proposals in small groups, one group per turn of the event loop: many apply batches queue up.
    const outcomes: Promise<{ ok: true; index: number } | { ok: false; error: unknown }>[] = [];
    let stopCalled = false;
    const proposing = (async () => {
      for (let i = 0; i < n; i++) {
        if (i % 4 === 0) await new Promise((r) => setImmediate(r));
        // Proposals made after stop() never reach Raft (StoppedError, correctly): make none.
        if (stopCalled) break;
        outcomes.push(
          leader!.node.propose(encodeCommand({ op: 'put', key: `s${i}`, value: 'x' })).then(
            (r) => ({ ok: true as const, index: r.index }),
            (e: unknown) => ({ ok: false as const, error: e }),
          ),
        );
      }
    })();
    // Stop while the apply stream is behind the commit index.
    await waitUntil(() => leader!.node.status().commit - leader!.kv.applied >= 20, 'the apply stream lagging behind commit', 15_000, 1);
    const commitAtStop = leader!.node.status().commit;
    stopCalled = true;
    // Proposals made in this turn are handed to Raft at its end (one batch per turn); a proposal
    // still waiting for its turn when stop() comes never reached Raft and is "stopped", correctly.
    await new Promise((r) => setImmediate(r));
    await leader!.node.stop();
    await proposing.catch(() => {});
    assert.ok(leader!.kv.applied >= commitAtStop, `applied ${leader!.kv.applied} < ${commitAtStop} committed when stop() was called`);
    const settled = await Promise.all(outcomes);
    for (const o of settled) {
      if (o.ok) assert.ok(o.index <= leader!.kv.applied, 'a resolved proposal is applied');
      else {
        assert.instance(o.error, ProposalOutcomeUnknownError, `appended proposals are never "stopped": ${String(o.error)}`);
        assert.instance((o.error as Error).cause, StoppedError, 'the cause is the stop');
      }
    }
    // Count the proposals committed at stop() from what was applied: a leader change under load
    // (a slow machine) adds a new term's no-op to the committed range, which is not a proposal.
    const committedProposals = leader!.kv.commandIndexes.filter((i) => i > base && i <= commitAtStop).length;
    const resolved = settled.filter((o) => o.ok).length;
    assert.ok(resolved >= committedProposals, `${resolved} resolved, but ${committedProposals} of the proposals were committed at stop()`);
  } finally {
    await Promise.all(members.map((m) => m.node.stop()));
  }
});

test.run();
