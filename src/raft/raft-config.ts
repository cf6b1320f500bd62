/**
 * The part of the node configuration the core reads: who the members are and the protocol's knobs
 * (timeouts in ticks, message and window sizes, log compaction (§7), PreVote, CheckQuorum). The
 * node's `Config` (src/config.ts) extends it with what only the host needs: where data lives and
 * how long a tick is. Defaults and validation live there.
 */

/** A cluster member: its id and the `host:port` its peers dial. */
export interface Peer {
  readonly id: number;
  readonly address: string;
}

/** How reads are confirmed: a heartbeat round ('safe') or the leader's lease ('leaseBased'). */
export type ReadOnlyOption = 'safe' | 'leaseBased';

export interface RaftConfig {
  /** Unique, non-zero identifier of this node in the cluster. */
  nodeId: number;
  /** The initial members. To bootstrap a new cluster list all of them; a joining node may list a subset. */
  peers: Peer[];
  /** Ticks without hearing from a leader before a follower campaigns. Must exceed heartbeatTick. Default 10. */
  electionTick: number;
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatTick: number;
  /** Upper bound, in bytes of entry data, of one append message. Default 1 MiB. */
  maxSizePerMsg: number;
  /** Append messages in flight to one follower before the leader waits for acks. Default 256. */
  maxInflightMsgs: number;
  /** Applied entries between snapshots. Default 10000. */
  snapshotInterval: number;
  /** Entries kept behind a snapshot so slightly lagging followers catch up from the log. Default 5000. */
  snapshotCatchUpEntries: number;
  /** Run the PreVote phase before raising the term (thesis §9.6). Default true. */
  preVote: boolean;
  /** Leader steps down when it has not heard from a quorum for an election timeout. Default true. */
  checkQuorum: boolean;
  /**
   * How the leader confirms a linearizable read (`readIndex`). 'safe' (the default): ReadIndex,
   * a heartbeat round acked by a majority per batch of reads (thesis §6.4). 'leaseBased': while a
   * majority answered the leader within the current election timeout (its CheckQuorum lease), the
   * leader answers from its commit index at once, without a round (thesis §6.4.1). Requires
   * checkQuorum. The lease assumes bounded clock drift and message delay: a leader process paused
   * past its lease, or a clock running slow, can serve a stale read. Default 'safe'.
   */
  readOnlyOption: ReadOnlyOption;
  /** Reject proposals on followers instead of forwarding them to the leader. Default false. */
  disableProposalForwarding: boolean;
  /**
   * Largest snapshot, in bytes, this node accepts from a leader. A transfer that declares more is
   * refused before anything is allocated for it, so a damaged or hostile chunk header cannot make
   * a follower reserve memory or disk it does not have. Set it above your largest state machine
   * snapshot. Default 1 GiB.
   */
  maxSnapshotBytes: number;
}
