/**
 * Every rule of the SafetyChecker fires inside a real Simulation run: each row switches on one
 * fault hook (src/raft/fault-hooks.ts) that breaks one rule of Raft in the node or in the host,
 * runs seeded chaos schedules until the checker throws (at most `seeds` seeds), and asserts that
 * the checker names the rule the fault breaks. The same seed with the fault off must pass, so the
 * violation is the fault's and not a false positive.
 *
 * Seeds start at FAULT_SEED (default 1); a failure prints the command that replays it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from '../src/config.ts';
import { FaultHooks, type FaultName } from '../src/raft/fault-hooks.ts';
import { Rng } from '../src/raft/rng.ts';
import { SafetyViolation } from '../src/sim/safety.ts';
import { Simulation } from '../src/sim/simulation.ts';

const FIRST_SEED = Number(process.env.FAULT_SEED ?? 1);
const enc = new TextEncoder();

interface Scenario {
  /** Cluster size. Default 3. */
  readonly nodes?: number;
  readonly ticks?: number;
  readonly config?: Partial<Omit<Config, 'nodeId' | 'peers'>>;
  /** Crash and restart nodes. Default true. */
  readonly crashes?: boolean;
  /** Propose commands. Default true. */
  readonly proposals?: boolean;
  /** Two nodes campaign at once every so often (split votes). */
  readonly rivalCampaigns?: boolean;
}

/** fault → the rule the checker must name, the chaos it needs, how many seeds it may take. */
const table: [FaultName, string, Scenario, number][] = [
  ['earlyAppendAck', 'persist before ack', {}, 20],
  ['earlySelfAck', 'persist before ack', {}, 10],
  ['unpersistedVote', 'persist before vote', {}, 20],
  ['earlySelfVote', 'persist before vote', {}, 20],
  ['secondVote', 'one vote per term', { rivalCampaigns: true, config: { preVote: false } }, 30],
  ['forgetHardStateOnRestart', 'durable term', { rivalCampaigns: true, config: { preVote: false } }, 40],
  ['countRejectedVotes', 'election safety', { rivalCampaigns: true, proposals: false, crashes: false, config: { preVote: false } }, 30],
  ['ignoreUpToDate', 'leader completeness', { config: { preVote: false } }, 40],
  ['ignorePrevTerm', 'log matching', {}, 40],
  ['uncappedHeartbeatCommit', 'state machine safety', {}, 40],
  ['commitRegress', 'monotonic commit', {}, 20],
  ['adoptStaleTerm', 'monotonic term', { rivalCampaigns: true }, 30],
  ['regressApplied', 'monotonic applied', { config: { snapshotInterval: 100000 } }, 10],
  ['applyOutOfOrder', 'apply order', {}, 10],
  ['skipApply', 'apply order', {}, 10],
  ['duplicateApply', 'apply exactly once', {}, 10],
  ['staleSnapshot', 'snapshot contents', { config: { snapshotInterval: 20 } }, 10],
  ['installStaleSnapshotData', 'snapshot contents', { nodes: 5, config: { snapshotInterval: 20, snapshotCatchUpEntries: 0 } }, 30],
  ['misreportProposalIndex', 'proposal at its index', {}, 10],
];

type Outcome = { kind: 'violation'; err: SafetyViolation } | { kind: 'error'; err: Error } | { kind: 'pass'; err?: undefined };

/** A bounded chaos schedule: lossy, reordering network, partitions, crashes, proposals. */
function run(seed: number, sc: Scenario, hooks: FaultHooks | undefined): Outcome {
  const rng = new Rng(seed ^ 0x2545f491);
  const nodes = sc.nodes ?? 3;
  const sim = new Simulation({
    seed,
    nodes,
    faultHooks: hooks,
    network: { dropRate: rng.next() * 0.1, duplicateRate: 0.02, delay: [1, rng.int(3, 25)], reorder: true },
    diskDelay: [0, rng.int(2, 15)],
    config: { snapshotInterval: rng.pick([30, 200, 100000]), snapshotCatchUpEntries: rng.int(0, 10), maxSizePerMsg: rng.pick([64, 4096]), ...sc.config },
  });
  const down = new Set<number>();
  try {
    for (let t = 0; t < (sc.ticks ?? 1500); t++) {
      sim.runFor(1);
      const r = rng.next();
      if (r < 0.01) sim.isolate(rng.pick(sim.ids));
      else if (r < 0.025) sim.heal();
      else if (sc.crashes !== false && r < 0.032 && down.size < Math.floor((nodes - 1) / 2)) {
        const id = rng.pick(sim.ids);
        if (!down.has(id)) {
          sim.crash(id);
          down.add(id);
        }
      } else if (r < 0.045 && down.size > 0) {
        const id = rng.pick([...down]);
        sim.restart(id);
        down.delete(id);
      }
      if (sc.rivalCampaigns && rng.chance(0.02)) {
        const up = sim.upNodes();
        const a = rng.pick(up);
        const b = rng.pick(up);
        sim.campaign(a);
        if (b !== a) sim.campaign(b);
      }
      if (sc.proposals !== false && rng.chance(0.4)) {
        const leader = sim.leader();
        const up = sim.upNodes();
        const via = leader !== undefined && rng.chance(0.8) ? leader : rng.pick(up);
        for (let i = rng.int(1, 4); i > 0; i--) sim.propose(via, enc.encode(`${seed}-${t}-${i}`));
      }
    }
  } catch (err) {
    if (err instanceof SafetyViolation) return { kind: 'violation', err };
    return { kind: 'error', err: err as Error };
  }
  return { kind: 'pass' };
}

for (const [fault, rule, scenario, seeds] of table) {
  test(`fault ${fault} -> the checker reports "${rule}"`, () => {
    const replay = (seed: number) => `FAULT_SEED=${seed} npm test -- sim-fault-hooks`;
    for (let seed = FIRST_SEED; seed < FIRST_SEED + seeds; seed++) {
      const hooks = new FaultHooks([fault]);
      const out = run(seed, scenario, hooks);
      if (out.kind === 'error') assert.unreachable(`seed ${seed}: the run threw ${out.err.stack}\nreplay: ${replay(seed)}`);
      if (out.kind === 'pass') continue;
      const err = out.err as SafetyViolation;
      assert.ok(hooks.total > 0, `seed ${seed}: a violation without the fault firing: ${err.message}`);
      assert.is(err.rule, rule, `seed ${seed}: fault ${fault} tripped "${err.rule}", expected "${rule}": ${err.message}\nreplay: ${replay(seed)}`);
      console.log(`  ${fault}: "${rule}" at seed ${seed} (fault injected ${hooks.total}x): ${err.message}`);
      const clean = run(seed, scenario, undefined);
      assert.is(clean.kind, 'pass', `seed ${seed} fails with the fault off too: ${clean.err?.message ?? ''}\nreplay: ${replay(seed)}`);
      return;
    }
    assert.unreachable(`fault ${fault} made no violation in seeds ${FIRST_SEED}..${FIRST_SEED + seeds - 1}; replay: ${replay(FIRST_SEED)}`);
  });
}

test.run();
