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
  /**
   * Replaces the whole state with a snapshot's. Need not be all-or-nothing: before restoring a
   * snapshot from the leader the node serializes the current state with `snapshot()`, and if
   * `restore` throws it restores that instead, discards the leader's snapshot (logged, and
   * SnapshotRejectedError on `errors$`) and keeps running on its old state. A snapshot is restored
   * before it replaces the node's log or is written to disk.
   */
  restore(data: Uint8Array): void | Promise<void>;
  /**
   * Optional: throws if `data` is not a snapshot `restore` would accept, without changing the
   * state. A snapshot received from the leader is checked with it first, which spares serializing
   * the current state for a snapshot that would fail anyway.
   */
  validateSnapshot?(data: Uint8Array): void;
}
