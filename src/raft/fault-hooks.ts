/**
 * Fault injection FOR TESTS ONLY: switches that make a node break one rule of Raft on purpose, so
 * the tests can show that the simulation's SafetyChecker notices each kind of bug inside a real
 * run (a checker that never fires would let every randomized run pass).
 *
 * Every switch is off unless a test passes a `FaultHooks` naming it (the `faultHooks` option of
 * the Simulation, the NodeActor and RaftState). When none is passed the only cost is one
 * `undefined` check at each hook point. Production code never creates one.
 *
 * Each fault is implemented where the behaviour it breaks lives:
 * - RaftState (src/raft/raft-state.ts): `earlyAppendAck`, `earlySelfAck`, `unpersistedVote`,
 *   `earlySelfVote`, `secondVote`,
 *   `ignoreUpToDate`, `ignorePrevTerm`, `countRejectedVotes`, `uncappedHeartbeatCommit`,
 *   `commitRegress`, `adoptStaleTerm`, `installStaleSnapshotData`,
 *   `misreportProposalIndex`;
 * - NodeActor (src/actors/node-actor.ts): `regressApplied`;
 * - the host loop (src/actors/host-loop.ts, received-snapshot.ts): `applyOutOfOrder`, `skipApply`,
 *   `duplicateApply`, `staleSnapshot`, and `installStaleSnapshotData` for snapshots the host restores;
 * - the simulation (src/sim/simulation.ts): `forgetHardStateOnRestart`.
 * The table in docs/testing.md says which checker rule each one trips.
 */
export type FaultName =
  /** A follower acknowledges an append at once, before the write, when entries already on its disk reach the acked index (even if the append overwrites them). */
  | 'earlyAppendAck'
  /** A vote response leaves before the vote is durable. */
  | 'unpersistedVote'
  /** A candidate counts its own vote before that vote is durable. */
  | 'earlySelfVote'
  /** A leader counts its own new entries towards a commit before they are durable. */
  | 'earlySelfAck'
  /** A voter grants a vote in a term where it already voted for another candidate. */
  | 'secondVote'
  /** A voter skips the "candidate's log is at least as up-to-date" check (Raft §5.4.1). */
  | 'ignoreUpToDate'
  /** A follower appends after a prev index whose term does not match (Raft §5.3 consistency check). */
  | 'ignorePrevTerm'
  /** A candidate counts rejected votes as granted. */
  | 'countRejectedVotes'
  /** A leader sends its whole commit index in heartbeats, not capped at what the follower is known to hold. */
  | 'uncappedHeartbeatCommit'
  /** A follower takes a heartbeat's commit index even when it is lower than its own. */
  | 'commitRegress'
  /** A node that hears a heartbeat from a deposed leader goes back to that leader's older term. */
  | 'adoptStaleTerm'
  /** A follower installs a leader's snapshot with the state machine data of the snapshot it already had. */
  | 'installStaleSnapshotData'
  /** A leader reports a proposal one index after where it appended it. */
  | 'misreportProposalIndex'
  /** The node actor records the applied index one lower than the host reported. */
  | 'regressApplied'
  /** The host applies the first two entries of a batch in swapped order. */
  | 'applyOutOfOrder'
  /** The host skips the first entry of a batch of two or more. */
  | 'skipApply'
  /** The host applies the last entry of a batch twice. */
  | 'duplicateApply'
  /** The host snapshots at the applied index with state machine data cached at its previous snapshot. */
  | 'staleSnapshot'
  /** A restarted node loses its durable term and vote (restarts at term 0, no vote). */
  | 'forgetHardStateOnRestart';

export class FaultHooks {
  private readonly enabled: ReadonlySet<FaultName>;
  /** How many times each fault was injected (changed what the node did). */
  readonly fired = new Map<FaultName, number>();

  constructor(faults: readonly FaultName[]) {
    this.enabled = new Set(faults);
  }

  /** Whether `name` is switched on. */
  on(name: FaultName): boolean {
    return this.enabled.has(name);
  }

  /** Records that `name` changed what the node did; returns true for use in conditions. */
  hit(name: FaultName): true {
    this.fired.set(name, (this.fired.get(name) ?? 0) + 1);
    return true;
  }

  /** Total injections so far. */
  get total(): number {
    let n = 0;
    for (const c of this.fired.values()) n += c;
    return n;
  }
}
