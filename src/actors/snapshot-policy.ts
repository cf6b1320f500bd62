/**
 * When a node snapshots its state machine and compacts its log (Raft §7): every
 * `snapshotInterval` applied entries. The synchronous part of `StateMachine.snapshot()` runs
 * between two applies, so it sees exactly the state at the index it is taken at; a state machine
 * that returns a promise finishes serializing while entries keep being applied.
 */
import type { ConfState, Snapshot } from '../raft/raftpb.ts';
import { type MaybePromise, runSteps } from './maybe-async.ts';

/** What the policy needs from the host loop. */
export interface SnapshotHost {
  /** Applied entries between two snapshots. */
  readonly interval: number;
  /** The index of the snapshot the Raft log holds now (taken, installed or loaded). */
  logSnapshotIndex(): number;
  /** The membership as of now, with addresses. */
  confState(): ConfState;
  /** Serializes the state machine. */
  serialize(): MaybePromise<Uint8Array>;
  /** Still the same run of the node (not stopped or restarted meanwhile). */
  current(): boolean;
  /** Records the snapshot in the log; returns it to be written. Throws if the log cannot take it. */
  record(index: number, data: Uint8Array, confState: ConfState): Snapshot;
  /** Writes it durably (the storage actor). */
  write(snap: Snapshot): void;
  taken(index: number, data: Uint8Array): void;
  failed(err: Error): void;
}

export class SnapshotPolicy {
  /** The last snapshot this node took or installed. */
  lastSnapshotIndex: number;
  private snapshotting = false;

  constructor(
    private readonly host: SnapshotHost,
    lastSnapshotIndex: number,
  ) {
    this.lastSnapshotIndex = lastSnapshotIndex;
  }

  /** A snapshot arrived from the leader (or was loaded): the interval counts from it. */
  installed(index: number): void {
    this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, index);
  }

  /** Called after entries up to `index` were applied. */
  maybeSnapshot(index: number): void {
    if (this.snapshotting || index - this.lastSnapshotIndex < this.host.interval) return;
    if (index <= this.host.logSnapshotIndex()) return;
    this.snapshotting = true;
    const result = runSteps(this.take(index));
    if (result) result.catch((err: unknown) => this.host.failed(err instanceof Error ? err : new Error(String(err))));
  }

  private *take(index: number): Generator<unknown, void, unknown> {
    const host = this.host;
    // The membership as of `index`, captured now: a change applied while serializing is not in it.
    const confState = host.confState();
    let bytes: Uint8Array;
    try {
      bytes = (yield host.serialize()) as Uint8Array;
    } catch (err) {
      this.snapshotting = false;
      host.failed(new Error(`state machine snapshot failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.snapshotting = false;
    if (!host.current()) return;
    // A snapshot installed from the leader meanwhile is newer: this one is of no use.
    if (index <= this.lastSnapshotIndex || index <= host.logSnapshotIndex()) return;
    let snap: Snapshot;
    try {
      snap = host.record(index, bytes, confState);
    } catch (err) {
      host.failed(new Error(`could not record the snapshot at ${index}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.lastSnapshotIndex = index;
    host.write(snap);
    host.taken(index, bytes);
  }
}
