/**
 * A randomized membership-churn run: the cluster grows 3 → 5, shrinks 5 → 3, replaces its leader,
 * and adds a learner that is then promoted, one change at a time, while messages are lost and
 * delayed, the network partitions and members crash and restart. Every safety rule is checked
 * after every step. At the end the faults stop and every member must converge on one state.
 */
import { Rng } from '../raft/rng.ts';
import type { ProposalOutcome } from '../raft/raft-state.ts';
import { LivenessFailure } from './random-schedule.ts';
import { ScheduleFailure, replayCommand } from './schedule-failure.ts';
import { Simulation } from './simulation.ts';

export interface MembershipResult {
  readonly seed: number;
  readonly changes: number;
  readonly finalVoters: readonly number[];
  /** The members the schedule removed (two followers, then the leader of the moment). */
  readonly removed: readonly number[];
  readonly steps: number;
}

const enc = new TextEncoder();

/** Runs one seed; any exception comes out as a ScheduleFailure with the command that replays it. */
export function runMembershipSchedule(seed: number, opts: { maxTicksPerChange?: number } = {}): MembershipResult {
  try {
    return runChurn(seed, opts);
  } catch (err) {
    throw new ScheduleFailure(seed, replayCommand(seed, { membership: true }), err);
  }
}

function runChurn(seed: number, opts: { maxTicksPerChange?: number }): MembershipResult {
  const rng = new Rng(seed ^ 0x9e3779b9);
  const sim = new Simulation({
    seed,
    nodes: 3,
    network: { dropRate: rng.next() * 0.05, duplicateRate: 0.02, delay: [1, rng.int(4, 20)], reorder: true },
    config: {
      snapshotInterval: rng.pick([40, 150, 10000]),
      snapshotCatchUpEntries: rng.int(0, 20),
      maxInflightMsgs: rng.int(2, 64),
    },
  });
  const maxTicks = opts.maxTicksPerChange ?? 600;
  const down = new Set<number>();
  const removed = new Set<number>();
  let nextId = 4;
  let changes = 0;

  const members = (): number[] => {
    const l = sim.leader();
    if (l === undefined) return [];
    const m = sim.membership(l);
    return [...m.voters, ...m.learners];
  };

  /** One tick of background chaos: proposals, short partitions, crashes of members. */
  const chaos = (t: number) => {
    sim.runFor(1);
    if (rng.chance(0.3)) {
      const up = sim.upNodes().filter((id) => !removed.has(id));
      if (up.length) sim.propose(rng.pick(up), enc.encode(`m${seed}-${t}`));
    }
    const r = rng.next();
    if (r < 0.004) {
      const ids = sim.ids.filter((id) => !removed.has(id));
      sim.isolate(rng.pick(ids));
    } else if (r < 0.02) {
      sim.heal();
    } else if (r < 0.023 && down.size === 0) {
      const ids = members().filter((id) => sim.isUp(id));
      if (ids.length > 3) {
        const id = rng.pick(ids);
        sim.crash(id);
        down.add(id);
      }
    } else if (r < 0.035 && down.size > 0) {
      for (const id of down) sim.restart(id);
      down.clear();
    }
  };

  /** Proposes a change until a leader appends it, then waits until the leader has applied it. */
  const change = (what: string, propose: () => ProposalOutcome, done: () => boolean) => {
    let appended = false;
    for (let t = 0; t < maxTicks; t++) {
      if (done()) {
        changes++;
        return;
      }
      if (!appended || t % 100 === 99) {
        const out = propose();
        appended = out.kind === 'appended';
      }
      chaos(t);
    }
    // Give the cluster a calm period before declaring the change stuck.
    sim.heal();
    for (const id of down) sim.restart(id);
    down.clear();
    if (!sim.runUntil(() => done() || (propose().kind === 'appended' && false), maxTicks) && !done()) {
      throw new LivenessFailure(seed, `membership change "${what}" did not complete`);
    }
    changes++;
  };

  const isVoter = (id: number) => {
    const l = sim.leader();
    return l !== undefined && sim.membership(l).voters.includes(id) && sim.status(l).applied >= sim.status(l).commit;
  };
  const isLearner = (id: number) => {
    const l = sim.leader();
    return l !== undefined && sim.membership(l).learners.includes(id);
  };
  const isGone = (id: number) => {
    const l = sim.leader();
    return l !== undefined && l !== id && !members().includes(id);
  };

  sim.runUntil((s) => s.leader() !== undefined, 200);

  // Grow 3 → 5.
  for (let i = 0; i < 2; i++) {
    const id = nextId++;
    change(`add ${id}`, () => sim.addNode(id), () => isVoter(id));
  }
  // Shrink 5 → 3 (never the leader here).
  for (let i = 0; i < 2; i++) {
    const l = sim.leader() ?? sim.ids[0]!;
    const victim = rng.pick(members().filter((id) => id !== l && !removed.has(id)));
    change(`remove ${victim}`, () => sim.removeNode(victim), () => isGone(victim));
    removed.add(victim);
    if (rng.chance(0.5) && sim.isUp(victim)) sim.crash(victim);
  }
  // Replace the leader: add a new node, then remove the leader.
  {
    const id = nextId++;
    change(`add ${id}`, () => sim.addNode(id), () => isVoter(id));
    const old = sim.leader()!;
    change(`remove leader ${old}`, () => sim.removeNode(old), () => isGone(old));
    removed.add(old);
    if (rng.chance(0.5) && sim.isUp(old)) sim.crash(old);
  }
  // A learner, promoted once it has caught up.
  {
    const id = nextId++;
    change(`add learner ${id}`, () => sim.addNode(id, { learner: true }), () => isLearner(id));
    change(`promote ${id}`, () => sim.promote(id), () => isVoter(id));
  }

  // Liveness: faults stop; every member converges.
  sim.heal();
  sim.setNetwork({ dropRate: 0, duplicateRate: 0, delay: [1, 5] });
  for (const id of down) sim.restart(id);
  down.clear();
  const stable = () => {
    const l = sim.leader();
    if (l === undefined) return false;
    const term = sim.status(l).term;
    return members().every((id) => sim.isUp(id) && sim.status(id).leader === l && sim.status(id).term === term);
  };
  if (!sim.runUntil(stable, 600)) throw new LivenessFailure(seed, 'no leader followed by every member after the churn');
  const l = sim.leader()!;
  let last = 0;
  for (let i = 0; i < 3; i++) {
    const out = sim.propose(l, enc.encode(`final-${i}`));
    if (out.kind === 'appended') last = out.index;
  }
  if (last === 0) throw new LivenessFailure(seed, 'the leader refused proposals after the churn');
  const converged = () => members().every((id) => sim.status(id).applied >= last);
  if (!sim.runUntil(converged, 600)) throw new LivenessFailure(seed, 'members did not apply the final proposals');
  sim.runFor(5);
  const digests = new Set(members().map((id) => `${sim.status(id).applied}:${sim.digest(id)}`));
  if (digests.size !== 1) throw new LivenessFailure(seed, `members' states differ: ${[...digests].join(', ')}`);
  return { seed, changes, finalVoters: sim.membership(l).voters, removed: [...removed], steps: sim.steps };
}
