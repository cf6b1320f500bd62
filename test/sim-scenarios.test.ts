/**
 * Whole-cluster scenarios on the deterministic Simulation: failover, partitions, overwritten
 * tails, a follower far behind, batching. The simulation checks the safety rules after every step
 * on its own; these tests check what a user of the cluster would see.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Message, MessageType } from '../src/raft/raftpb.ts';
import { type AppliedEntry, Simulation } from '../src/sim/simulation.ts';

const electionTick = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

function waitForLeader(sim: Simulation, maxTicks = 20 * electionTick): number {
  assert.ok(sim.runUntil((s) => s.leader() !== undefined, maxTicks), `seed ${sim.seed}: no leader within ${maxTicks} ticks`);
  return sim.leader()!;
}

/** Proposes on whichever node leads, retrying across elections. Returns where it landed. */
function proposeOnLeader(sim: Simulation, data: string, maxTicks = 50 * electionTick): { leader: number; index: number } {
  const until = sim.now + maxTicks * sim.tickMs;
  while (sim.now <= until) {
    const leader = sim.leader();
    if (leader !== undefined) {
      const out = sim.propose(leader, bytes(data));
      if (out.kind === 'appended') return { leader, index: out.index };
    }
    sim.runFor(1);
  }
  throw new Error(`seed ${sim.seed}: could not propose ${data}`);
}

function appliedData(sim: Simulation, id: number): string[] {
  return sim.applied(id).map((e) => text(e.data));
}

const plain = (e: AppliedEntry) => ({ index: e.index, term: e.term, data: text(e.data) });

/** Calls `onMsg` for every message a running node receives from another node. */
function observe(sim: Simulation, onMsg: (m: Message) => void): void {
  for (const id of sim.upNodes()) {
    const actor = sim.node(id)!;
    const step = actor.step.bind(actor);
    actor.step = (m: Message) => {
      if (m.from !== m.to) onMsg(m);
      step(m);
    };
  }
}

test('a crashed leader is replaced within 10 election timeouts', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const sim = new Simulation({ seed, nodes: 5 });
    const old = waitForLeader(sim);
    const oldTerm = sim.status(old).term;
    const before = proposeOnLeader(sim, 'before the crash');
    assert.ok(sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= before.index), 20 * electionTick));
    sim.crash(old);
    const ok = sim.runUntil((s) => {
      const l = s.leader();
      return l !== undefined && l !== old;
    }, 10 * electionTick);
    assert.ok(ok, `seed ${seed}: no new leader within 10 election timeouts`);
    const leader = sim.leader()!;
    assert.ok(sim.status(leader).term > oldTerm, `seed ${seed}: the new leader has a later term`);
    // The new leader serves: a proposal commits on the surviving nodes.
    const { index } = proposeOnLeader(sim, 'after the crash');
    assert.ok(
      sim.runUntil((s) => s.upNodes().every((id) => s.status(id).applied >= index), 20 * electionTick),
      `seed ${seed}: the survivors apply the new entry`,
    );
    // The old leader restarts and catches up.
    sim.restart(old);
    assert.ok(sim.runUntil((s) => s.status(old).applied >= index, 50 * electionTick), `seed ${seed}: the old leader catches up`);
    assert.ok(appliedData(sim, old).includes('before the crash'));
    assert.ok(appliedData(sim, old).includes('after the crash'));
  }
});

test('5 nodes with 3 cut off commit nothing new; after healing all converge on the same entries', () => {
  for (const seed of [21, 22, 23]) {
    const sim = new Simulation({ seed, nodes: 5 });
    const leader = waitForLeader(sim);
    const { index } = proposeOnLeader(sim, 'before');
    assert.ok(sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= index), 20 * electionTick));
    const cutOff = sim.ids.filter((id) => id !== leader).slice(0, 3);
    for (const id of cutOff) sim.isolate(id);
    const commits = sim.ids.map((id) => sim.status(id).commit);
    const outcome = sim.propose(leader, bytes('during the partition'));
    assert.is(outcome.kind, 'appended', `seed ${seed}`);
    sim.runFor(10 * electionTick);
    assert.equal(
      sim.ids.map((id) => sim.status(id).commit),
      commits,
      `seed ${seed}: no node's commit index moved while only 2 of 5 can talk`,
    );
    for (const id of sim.ids) assert.not.ok(appliedData(sim, id).includes('during the partition'), `seed ${seed}: node ${id}`);
    assert.is.not(sim.status(leader).role, 'leader', `seed ${seed}: CheckQuorum made the cut-off leader step down`);

    sim.heal();
    const after = proposeOnLeader(sim, 'after healing');
    assert.ok(
      sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= after.index), 50 * electionTick),
      `seed ${seed}: every node applies the entry proposed after healing`,
    );
    const reference = sim.applied(sim.ids[0]!).map(plain);
    for (const id of sim.ids) assert.equal(sim.applied(id).map(plain), reference, `seed ${seed}: node ${id} applied the same entries`);
    assert.ok(appliedData(sim, leader).includes('after healing'));
  }
});

test("a deposed leader's uncommitted tail is overwritten by the new leader's entries", () => {
  for (const seed of [31, 32, 33]) {
    const sim = new Simulation({ seed, nodes: 3 });
    const old = waitForLeader(sim);
    const base = proposeOnLeader(sim, 'committed');
    assert.ok(sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= base.index), 20 * electionTick));
    sim.isolate(old);
    const stale = ['stale 1', 'stale 2', 'stale 3'].map((d) => sim.propose(old, bytes(d)));
    assert.ok(stale.every((o) => o.kind === 'appended'), `seed ${seed}: the old leader took the proposals`);
    const firstStale = stale[0]!.kind === 'appended' ? stale[0]!.index : 0;
    const ok = sim.runUntil((s) => {
      const l = s.leader();
      return l !== undefined && l !== old;
    }, 20 * electionTick);
    assert.ok(ok, `seed ${seed}: the other two elect a leader`);
    const fresh = ['fresh 1', 'fresh 2', 'fresh 3', 'fresh 4'].map((d) => proposeOnLeader(sim, d));
    const last = fresh[fresh.length - 1]!.index;
    sim.heal();
    assert.ok(sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= last), 50 * electionTick), `seed ${seed}: all apply`);
    const leader = sim.leader()!;
    const byIndex = (id: number) => new Map(sim.applied(id).map((e) => [e.index, plain(e)]));
    const oldApplied = byIndex(old);
    const newApplied = byIndex(leader);
    for (let i = firstStale; i < firstStale + 3; i++) {
      assert.equal(oldApplied.get(i), newApplied.get(i), `seed ${seed}: index ${i} on the old leader is the new leader's entry`);
    }
    for (const id of sim.ids) {
      const data = appliedData(sim, id);
      assert.ok(data.every((d) => !d.startsWith('stale')), `seed ${seed}: node ${id} never applied an uncommitted stale entry`);
      assert.equal(data.filter((d) => d.startsWith('fresh')), ['fresh 1', 'fresh 2', 'fresh 3', 'fresh 4']);
    }
  }
});

test('a follower 1,000 entries behind, with a divergent tail, catches up in a few round trips', () => {
  const seed = 41;
  const sim = new Simulation({ seed, nodes: 5 });
  const old = waitForLeader(sim);
  const follower = sim.ids.find((id) => id !== old)!;
  const majority = sim.ids.filter((id) => id !== old && id !== follower);
  proposeOnLeader(sim, 'shared');
  sim.runFor(5);
  const commitBefore = sim.status(follower).commit;

  // The old leader and one follower are cut off together: 50 entries reach the follower, uncommitted.
  sim.partition([[old, follower], majority]);
  for (let i = 0; i < 50; i++) sim.propose(old, bytes(`divergent ${i}`));
  sim.runFor(5);
  assert.ok(sim.status(follower).lastIndex >= commitBefore + 50, 'the follower holds the divergent tail');
  assert.is(sim.status(follower).commit, commitBefore, 'the divergent tail is not committed');

  // The majority elects a leader of a later term and commits 1,000 entries.
  assert.ok(sim.runUntil((s) => majority.includes(s.leader() ?? 0), 30 * electionTick), 'the majority elects a leader');
  const leader = sim.leader()!;
  let last = 0;
  for (let i = 0; i < 1000; i++) {
    const out = sim.propose(leader, bytes(`entry ${i}`));
    assert.is(out.kind, 'appended');
    if (out.kind === 'appended') last = out.index;
    if (i % 100 === 99) sim.runFor(1);
  }
  assert.ok(sim.runUntil((s) => majority.every((id) => s.status(id).applied >= last), 50 * electionTick));

  // The follower stays cut off while the old leader rejoins and is repaired; then the leader
  // changes, so the new one knows nothing of where the follower's log stands: it probes at its
  // own last index, 1,000 entries past the follower's.
  sim.partition([[follower], [old, ...majority]]);
  assert.ok(sim.runUntil((s) => s.status(old).applied >= last, 50 * electionTick), 'the old leader is repaired');
  sim.crash(leader);
  assert.ok(sim.runUntil((s) => s.leader() !== undefined && s.leader() !== leader, 50 * electionTick), 'a leader after the crash');
  const prober = sim.leader()!;
  assert.ok(sim.status(prober).lastIndex - sim.status(follower).lastIndex >= 950, 'the follower is about 1,000 entries behind');

  // Heal and count the follower's answers to the leader's appends.
  let rejects = 0;
  let appendResps = 0;
  let appends = 0;
  observe(sim, (m) => {
    if (m.from === follower && m.to === prober && m.type === MessageType.MsgAppResp) {
      appendResps++;
      if (m.reject) rejects++;
    }
    if (m.from === prober && m.to === follower && m.type === MessageType.MsgApp) appends++;
  });
  sim.heal();
  const target = sim.status(prober).lastIndex;
  assert.ok(sim.runUntil((s) => s.status(follower).applied >= target, 50 * electionTick), 'the follower catches up');
  // (A new leader currently probes every follower from index 1, so no rejection is needed here;
  // see test/pending-bugs.md. With probing at the leader's last index, one rejection is expected.)
  assert.ok(rejects >= 1, 'the divergent tail was detected');
  assert.ok(rejects <= 3, `${rejects} rejections: backtracking skips a whole term at a time`);
  assert.ok(appends < 50, `${appends} appends to the follower, far fewer than the 1,000 entries`);
  assert.ok(appendResps < 50, `${appendResps} append responses from the follower`);
  const data = appliedData(sim, follower);
  assert.ok(data.every((d) => !d.startsWith('divergent')), 'the divergent entries were overwritten, never applied');
  assert.is(data.filter((d) => d.startsWith('entry ')).length, 1000);
});

test('proposals made together go to each follower in one append message', () => {
  const sim = new Simulation({ seed: 51, nodes: 3 });
  const leader = waitForLeader(sim);
  proposeOnLeader(sim, 'warm up');
  sim.runFor(5);
  const apps = new Map<number, Message[]>();
  observe(sim, (m) => {
    if (m.type === MessageType.MsgApp && m.from === leader && m.entries.length > 0) {
      apps.set(m.to, [...(apps.get(m.to) ?? []), m]);
    }
  });
  const batch = ['a', 'b', 'c', 'd', 'e'];
  const out = sim.node(leader)!.proposeData(batch.map(bytes));
  assert.is(out.kind, 'appended');
  assert.is(out.kind === 'appended' ? out.count : 0, batch.length);
  sim.runFor(5);
  const followers = sim.ids.filter((id) => id !== leader);
  for (const id of followers) {
    const msgs = apps.get(id) ?? [];
    assert.is(msgs.length, 1, `follower ${id} got ${msgs.length} appends`);
    assert.equal(msgs[0]!.entries.map((e) => text(e.data)), batch, `follower ${id}: the whole batch in one message`);
  }
  assert.ok(sim.runUntil((s) => s.ids.every((id) => appliedData(s, id).slice(-5).join() === batch.join()), 10 * electionTick));
});

test.run();
