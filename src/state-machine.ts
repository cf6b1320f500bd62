/**
 * The application's replicated state: what the Go package calls `StateMachine`.
 *
 * `apply` runs once per committed entry, in log order, on every node. Its return value becomes
 * the `result` of the `propose()` that created the entry (on the node that proposed it). It must
 * be deterministic: every node applies the same entries and must reach the same state.
 */
export interface StateMachine<Result = unknown> {
  /** Applies one committed command. Throwing stops the node (a diverged state machine is fatal). */
  apply(data: Uint8Array, index: number): Result | Promise<Result>;
  /** Serializes the whole state (for snapshots). */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void | Promise<void>;
  /**
   * Optional, recommended: throws if `data` is not a snapshot `restore` would accept, without
   * changing the state. A snapshot received from the leader is checked with it before it replaces
   * the node's log and is written to disk; a refused one is discarded (logged, and reported on
   * `errors$` as SnapshotRejectedError) and the node keeps running on its old state. Without it, a
   * snapshot that fails to restore stops the node.
   */
  validateSnapshot?(data: Uint8Array): void;
}
