/**
 * The amnesia hazard in the simulation: a member whose disk was wiped comes back under its old
 * node id. Its peers refuse it, so it can never vote, acknowledge or be counted in place of the
 * member it was; replacing it (RemoveNode, AddNode) brings it back. A failure names the seed;
 * replay a random one with `npm run sim -- --seed N`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Simulation } from '../src/sim/simulation.ts';
import { runRandomSchedule } from '../src/sim/random-schedule.ts';

const enc = new TextEncoder();

/** Proposes a membership change until the leader has applied it (a new leader refuses one at first). */
function change(sim: Simulation, propose: () => unknown, done: (s: Simulation) => boolean): boolean {
  for (let attempt = 0; attempt < 10; attempt++) {
    propose();
    if (sim.runUntil(done, 50)) return true;
  }
  return false;
}

test('the reproduction: a member acked a write and lost its disk; with the leader down, the other member and the wiped one elect nobody; the write survives; replacing the wiped member brings it back', () => {
  // Seeds where S never heard from W before W was wiped: only W itself can then refuse to vote.
  let strangers = 0;
  for (let seed = 1; seed <= 24; seed++) {
    const sim = new Simulation({ seed, nodes: 3, network: { delay: [1, 3] } });
    const where = `seed ${seed}`;
    // Issue 9's roles: L leads (node 1 there), S is stopped first (node 2), W gets wiped (node 3).
    // On odd seeds S is cut off from the start, so it never hears from W before W is wiped.
    const cutOff = seed % 2 === 1 ? 2 : 0;
    if (cutOff) sim.isolate(cutOff);
    const settled = (s: Simulation) => s.leader() !== undefined && s.ids.every((id) => id === cutOff || s.status(id).leader === s.leader());
    assert.ok(sim.runUntil(settled, 300), where);
    const L = sim.leader()!;
    const S = cutOff || sim.ids.find((id) => id !== L)!;
    const W = sim.ids.find((id) => id !== L && id !== S)!;
    // 1. S stops; a write through L commits on L and W.
    sim.crash(S);
    const out = sim.propose(L, enc.encode('lost-me'));
    assert.is(out.kind, 'appended', where);
    const index = out.kind === 'appended' ? out.index : 0;
    assert.ok(sim.runUntil((s) => s.status(L).applied >= index && s.status(W).commit >= index, 200), where);
    // 2. W's data directory is removed and it restarts empty; L stops.
    if (sim.disk(S).durable.peerIncarnationsSync()[W] === undefined) strangers++;
    sim.amnesia(W);
    sim.crash(L);
    sim.heal();
    // 3. S and the wiped W run for a long while: neither may lead (a leader would lack the write).
    sim.restart(S);
    sim.runFor(500);
    assert.is(sim.leader(), undefined, `${where}: a leader without the acknowledged write`);
    // 4. L returns: a leader with the write is elected; the wiped node is still not counted.
    sim.restart(L);
    assert.ok(sim.runUntil((s) => s.leader() !== undefined && s.status(S).leader === s.leader(), 400), where);
    const leader = sim.leader()!;
    assert.ok(leader !== W, where);
    assert.ok(sim.runUntil((s) => s.status(leader).applied >= index, 200), `${where}: the leader applies the write`);
    assert.ok(sim.applied(leader).some((e) => e.index === index && new TextDecoder().decode(e.data) === 'lost-me'), `${where}: the write survived`);
    assert.ok(sim.counters.identityRefusals > 0, `${where}: the wiped node was refused`);
    assert.is(sim.status(W).applied, 0, `${where}: nothing reached the wiped node under its old identity`);
    // 5. Replace it: remove W, add it again; the wiped node catches up as a new member.
    const isVoter = (s: Simulation) => s.leader() !== undefined && s.membership(s.leader()!).voters.includes(W);
    assert.ok(change(sim, () => sim.removeNode(W), (s) => s.leader() !== undefined && !isVoter(s)), `${where}: remove ${W}`);
    assert.ok(change(sim, () => sim.addNode(W), isVoter), `${where}: add ${W}`);
    assert.ok(sim.runUntil((s) => s.leader() !== undefined && s.propose(s.leader()!, enc.encode('after')).kind === 'appended', 100), where);
    const caughtUp = (s: Simulation) => {
      const l = s.leader();
      return l !== undefined && s.ids.every((id) => s.status(id).applied >= s.status(l).commit);
    };
    assert.ok(sim.runUntil(caughtUp, 400), `${where}: every node caught up`);
    assert.ok(sim.digest(1) === sim.digest(2) && sim.digest(2) === sim.digest(3), `${where}: equal digests`);
    assert.ok(sim.status(W).applied >= index, `${where}: the replaced node holds the write`);
  }
  assert.ok(strangers > 0, `some seeds must wipe a member its peer never heard from (got ${strangers})`);
});

const SEEDS = Number(process.env.SIM_AMNESIA_SEEDS ?? 40);
test(`${SEEDS} schedules with frequent amnesia: no safety violation, the replace procedure restores liveness`, () => {
  let amnesias = 0;
  let refusals = 0;
  const failures: string[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    try {
      const r = runRandomSchedule(seed, { ticks: 1000, amnesiaRate: 0.01 });
      amnesias += r.amnesias;
      refusals += r.identityRefusals;
    } catch (err) {
      failures.push(`${(err as Error).message} (replay: runRandomSchedule(${seed}, { ticks: 1000, amnesiaRate: 0.01 }))`);
    }
  }
  assert.equal(failures, [], failures.join('\n'));
  assert.ok(amnesias >= SEEDS, `disks wiped: ${amnesias}`);
  if (SEEDS > 0) assert.ok(refusals > 0, `identity refusals: ${refusals}`);
});

test.run();
