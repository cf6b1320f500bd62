/**
 * A randomized fault schedule: the run behind the randomized tests and `npm run sim`.
 *
 * Phase 1 (chaos, `ticks` ticks): a lossy, duplicating, reordering network; partitions into
 * groups, isolated nodes, crashes (losing unsynced writes) and restarts, amnesia (a node's disk is
 * wiped and it restarts under its old id with a new incarnation; at most a minority of the
 * members, as a cluster that lost a majority of its disks has lost data for good); proposals
 * through random nodes. Every safety rule is checked after every step.
 * Phase 2 (liveness): faults stop, partitions heal, crashed nodes restart, and every wiped node is
 * replaced the way an operator would (RemoveNode, then AddNode under the same id; the wiped node
 * then joins afresh). A leader must be elected, and every proposal accepted by it after healing
 * must be applied on every node.
 */
import { Rng } from '../raft/rng.ts';
import { ScheduleFailure, replayCommand } from './schedule-failure.ts';
import { Simulation } from './simulation.ts';

export interface ScheduleOptions {
  readonly ticks?: number;
  /** Cluster size; by default 3 or 5 chosen by the seed. */
  readonly nodes?: number;
  /** Ticks allowed for phase 2. */
  readonly livenessTicks?: number;
  /** Chance per tick of an amnesia fault (default 0.002; 0 turns it off). */
  readonly amnesiaRate?: number;
  /** Whether senders hear of unreachable peers (default true; see NetworkFaults.reportUnreachable). */
  readonly reportUnreachable?: boolean;
}

export interface ScheduleResult {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly ticks: number;
  readonly crashes: number;
  /** Disks wiped (amnesia faults). */
  readonly amnesias: number;
  /** Messages refused because their sender presented another data directory (or knew us by one). */
  readonly identityRefusals: number;
  readonly partitions: number;
  /** Peers reported unreachable to a sender, and circuit breakers a leader opened on those reports. */
  readonly unreachableReports: number;
  readonly breakerOpens: number;
  readonly proposed: number;
  readonly committed: number;
  readonly maxTerm: number;
}

export class LivenessFailure extends Error {
  constructor(seed: number, what: string) {
    super(`liveness failure: ${what} (seed ${seed})`);
    this.name = 'LivenessFailure';
  }
}

const enc = new TextEncoder();

/**
 * Runs one seed. Any exception (safety violation, liveness failure, a bug anywhere) comes out as
 * a ScheduleFailure naming the seed and the `npm run sim` command that replays it.
 */
export function runRandomSchedule(seed: number, opts: ScheduleOptions = {}): ScheduleResult {
  try {
    return runSchedule(seed, opts);
  } catch (err) {
    throw new ScheduleFailure(seed, replayCommand(seed, { ticks: opts.ticks, nodes: opts.nodes, reportUnreachable: opts.reportUnreachable }), err);
  }
}

function runSchedule(seed: number, opts: ScheduleOptions): ScheduleResult {
  const rng = new Rng(seed ^ 0x5bd1e995);
  const nodes = opts.nodes ?? (rng.chance(0.5) ? 3 : 5);
  const ticks = opts.ticks ?? 2000;
  const sim = new Simulation({
    seed,
    nodes,
    network: {
      dropRate: rng.next() * 0.2,
      duplicateRate: rng.next() * 0.1,
      delay: [1, rng.int(5, 40)],
      reorder: true,
      reportUnreachable: opts.reportUnreachable ?? true,
    },
    config: {
      preVote: rng.chance(0.8),
      checkQuorum: rng.chance(0.8),
      maxInflightMsgs: rng.int(1, 64),
      maxSizePerMsg: rng.pick([64, 1024, 1 << 20]),
      snapshotInterval: rng.pick([25, 100, 400, 10000]),
      snapshotCatchUpEntries: rng.int(0, 40),
    },
  });
  let partitions = 0;
  let proposed = 0;
  const down = new Set<number>();
  const maxDown = Math.floor((nodes - 1) / 2) + 1; // sometimes more than a minority, to test no-commit periods
  const amnesiaRate = opts.amnesiaRate ?? 0.002;
  // Wiped and not yet replaced: never more than a minority, so a majority of the disks survive.
  const wiped = new Set<number>();
  const maxWiped = Math.floor((nodes - 1) / 2);

  for (let t = 0; t < ticks; t++) {
    sim.runFor(1);
    const r = rng.next();
    if (r < 0.01) {
      // partition into two random groups
      const shuffled = [...sim.ids].sort(() => rng.next() - 0.5);
      const cut = rng.int(1, nodes);
      sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      partitions++;
    } else if (r < 0.015) {
      sim.isolate(rng.pick(sim.ids));
      partitions++;
    } else if (r < 0.03) {
      sim.heal();
    } else if (r < 0.036 && down.size < maxDown) {
      const id = rng.pick(sim.ids);
      if (!down.has(id)) {
        sim.crash(id);
        down.add(id);
      }
    } else if (r < 0.05 && down.size > 0) {
      const id = rng.pick([...down]);
      sim.restart(id);
      down.delete(id);
    }
    if (amnesiaRate > 0 && rng.chance(amnesiaRate) && wiped.size < maxWiped) {
      const id = rng.pick(sim.ids);
      if (!wiped.has(id)) {
        sim.amnesia(id);
        wiped.add(id);
        down.delete(id);
      }
    }
    if (rng.chance(0.3)) {
      const up = sim.upNodes();
      if (up.length > 0) {
        const id = rng.pick(up);
        const n = rng.int(1, 4);
        for (let i = 0; i < n; i++) {
          sim.propose(id, enc.encode(`s${seed}-t${t}-${i}`));
          proposed++;
        }
      }
    }
  }

  // Phase 2: stop the faults and demand progress.
  sim.heal();
  sim.setNetwork({ dropRate: 0, duplicateRate: 0, delay: [1, 5] });
  for (const id of down) sim.restart(id);
  const livenessTicks = opts.livenessTicks ?? 400;
  if (wiped.size > 0) replaceWiped(sim, seed, [...wiped], livenessTicks);
  // Stable: one leader that every node follows in the same term (a stale leader of a minority may
  // still think it leads for a moment after healing; its proposals were never promised to anyone).
  const stable = (s: Simulation) => {
    const leader = s.leader();
    if (leader === undefined) return false;
    const term = s.status(leader).term;
    return s.ids.every((id) => {
      const st = s.status(id);
      return st.leader === leader && st.term === term;
    });
  };
  if (!sim.runUntil(stable, livenessTicks)) {
    throw new LivenessFailure(seed, `no leader followed by every node within ${livenessTicks} ticks after healing`);
  }
  const accepted: { index: number; term: number }[] = [];
  for (let i = 0; accepted.length < 5 && i < 50; i++) {
    const leader = sim.leader();
    if (leader === undefined) {
      sim.runFor(5);
      continue;
    }
    const out = sim.propose(leader, enc.encode(`after-heal-${i}`));
    if (out.kind === 'appended') accepted.push({ index: out.index, term: out.term });
    sim.runFor(1);
  }
  if (accepted.length < 5) throw new LivenessFailure(seed, 'the leader did not accept proposals after healing');
  const last = accepted[accepted.length - 1]!;
  const allApplied = (s: Simulation) =>
    s.ids.every((id) => {
      const st = s.status(id);
      return st.applied >= last.index;
    });
  if (!sim.runUntil(allApplied, livenessTicks)) {
    throw new LivenessFailure(seed, `proposals accepted after healing did not commit on every node (${JSON.stringify(sim.ids.map((id) => sim.status(id)))})`);
  }
  for (const id of sim.ids) {
    const applied = sim.applied(id);
    for (const a of accepted) {
      const e = applied.find((x) => x.index === a.index);
      if (e && e.term !== a.term) throw new LivenessFailure(seed, `accepted proposal at ${a.index} was overwritten on node ${id}`);
    }
  }
  const statuses = sim.ids.map((id) => sim.status(id));
  return {
    seed,
    nodes,
    steps: sim.steps,
    ticks: Math.round(sim.now / sim.tickMs),
    crashes: sim.counters.crashes,
    amnesias: sim.counters.amnesias,
    identityRefusals: sim.counters.identityRefusals,
    partitions,
    unreachableReports: sim.counters.unreachableReports,
    breakerOpens: sim.counters.breakerOpens,
    proposed,
    committed: Math.max(...statuses.map((s) => s.commit)),
    maxTerm: Math.max(...statuses.map((s) => s.term)),
  };
}

/**
 * The replace procedure of docs/membership.md, as an operator runs it: once the surviving members
 * have a leader, remove each wiped node's id, then add it again; the wiped node (already running
 * with an empty store, as `--join` starts it) is then learned under its new incarnation and
 * catches up from the leader.
 */
function replaceWiped(sim: Simulation, seed: number, wiped: readonly number[], ticks: number): void {
  // A leader a majority follows. (It may be a wiped node: peers that never heard from its old
  // directory learn the new one on first contact; only those that knew the old one refuse it.)
  const settled = (s: Simulation) => {
    const leader = s.leader();
    return leader !== undefined && s.ids.filter((id) => s.status(id).leader === leader).length > s.ids.length / 2;
  };
  for (const id of wiped) {
    for (const change of ['remove', 'add'] as const) {
      const done = (s: Simulation) => {
        const leader = s.leader();
        if (leader === undefined || !settled(s)) return false;
        const m = s.membership(leader);
        const member = m.voters.includes(id) || m.learners.includes(id);
        return change === 'remove' ? !member : member;
      };
      let ok = false;
      for (let attempt = 0; attempt < 10 && !ok; attempt++) {
        if (!sim.runUntil(settled, ticks)) throw new LivenessFailure(seed, `the surviving members elected no leader to replace wiped node ${id}`);
        if (done(sim)) {
          ok = true;
          break;
        }
        if (change === 'remove') sim.removeNode(id);
        else sim.addNode(id);
        ok = sim.runUntil(done, 50);
      }
      if (!ok) throw new LivenessFailure(seed, `could not ${change} wiped node ${id}`);
    }
  }
}
