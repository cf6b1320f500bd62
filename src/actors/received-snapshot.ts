/**
 * A snapshot from the leader arrived whole (Raft §7): restore the state machine from it BEFORE it
 * replaces the log and the disk, in order with the applies (it runs on the apply chain). The data
 * is read back from the staging area once the write holding its last chunk is durable (the one
 * full copy in memory).
 *
 * Restoring first means a snapshot the state machine cannot take is never stored: it is dropped
 * with a logged reason (SnapshotRejectedError) and the member keeps running on its old state.
 * `restore` need not be all-or-nothing: the state is serialized with `snapshot()` before and
 * restored from that if `restore` throws. The snapshot then goes to the core, which replaces the
 * log in memory and hands it out in a Ready to be made durable; the leader hears of it only after
 * that write. A crash in between restarts from the old durable state, so memory never runs ahead
 * of the disk for long.
 *
 * Written as steps (see maybe-async.ts): with a synchronous state machine and an in-memory
 * snapshot it completes synchronously, which the simulation relies on.
 */
import type { Storage } from '../io/storage.ts';
import type { FaultHooks } from '../raft/fault-hooks.ts';
import type { ReceivedSnapshot } from '../raft/snapshot-transfer.ts';
import type { StateMachine } from '../state-machine.ts';
import type { NodeActor } from './node-actor.ts';
import type { StorageActor } from './storage-actor.ts';

export interface ReceivedSnapshotHost {
  readonly node: NodeActor;
  readonly stateMachine: StateMachine<unknown>;
  readonly storage: Storage;
  readonly storageActor: StorageActor | undefined;
  /** Still running (not stopping, not restarted). */
  current(): boolean;
  /** Called when the node is found stopping: nothing past this snapshot may be applied. */
  onStopping(): void;
  discardStaged(): void;
  rejected(index: number, term: number, from: number, reason: string): void;
  installed(index: number, data: Uint8Array): void;
  fatal(err: Error): void;
  scheduleFlush(): void;
  /** Fault injection for the checker's own tests; never set otherwise. */
  readonly faultHooks?: FaultHooks | undefined;
}

export function* restoreReceivedSnapshot(host: ReceivedSnapshotHost, r: ReceivedSnapshot, writeSeq: number | undefined): Generator<unknown, void, unknown> {
  const { node, stateMachine: sm } = host;
  const staged = r.data === undefined;
  const drop = (reason?: string): void => {
    node.raft.dropReceivedSnapshot(r);
    if (staged) host.discardStaged();
    if (reason) host.rejected(r.metadata.index, r.metadata.term, r.from, reason);
    host.scheduleFlush();
  };
  const { index } = r.metadata;
  if (!host.current()) return host.onStopping();
  // A newer leader, or the log caught up meanwhile: nothing to restore.
  if (!node.raft.wantsReceivedSnapshot(r)) return drop();
  let data: Uint8Array;
  try {
    if (r.data !== undefined) {
      data = r.data;
    } else {
      // Staged on disk: read back once the write with its last chunk is durable.
      if (writeSeq !== undefined && host.storageActor && host.storageActor.persistedSeq < writeSeq) yield host.storageActor.whenPersisted(writeSeq);
      data = (yield host.storage.readStagedSnapshot!(index, r.size)) as Uint8Array;
    }
  } catch (err) {
    if (host.current()) drop(`its staged chunks could not be read back: ${messageOf(err)}`);
    return;
  }
  if (!host.current() || !node.raft.wantsReceivedSnapshot(r)) return host.current() ? drop() : undefined;
  const f = host.faultHooks;
  if (f?.on('installStaleSnapshotData') && node.raft.log.snapshot().metadata.index > 0 && f.hit('installStaleSnapshotData')) {
    // The fault: the new snapshot's metadata with the state of the one this node already had.
    data = node.raft.log.snapshot().data;
  }
  if (sm.validateSnapshot) {
    try {
      sm.validateSnapshot(data);
    } catch (err) {
      return drop(`the state machine refused its data: ${messageOf(err)}`);
    }
  }
  let before: Uint8Array;
  try {
    before = (yield sm.snapshot()) as Uint8Array;
  } catch (err) {
    return drop(`the state machine could not serialize its current state to come back to: ${messageOf(err)}`);
  }
  try {
    yield sm.restore(data);
  } catch (err) {
    if ((yield* putStateBack(host, before, index)) as boolean) drop(`the state machine could not restore it: ${messageOf(err)}`);
    return;
  }
  let installed = false;
  if (host.current()) {
    try {
      installed = node.raft.installReceivedSnapshot(r, data);
    } catch (err) {
      host.fatal(err instanceof Error ? err : new Error(String(err)));
    }
  }
  if (!installed) {
    // Stopped, or no longer wanted while restoring: the state machine goes back to where the log is.
    if (((yield* putStateBack(host, before, index)) as boolean) && host.current()) drop();
    return;
  }
  host.installed(index, data);
  host.scheduleFlush();
}

/** Restores the state the state machine had before a snapshot was tried; a failure there is fatal. */
function* putStateBack(host: ReceivedSnapshotHost, before: Uint8Array, index: number): Generator<unknown, boolean, unknown> {
  try {
    yield host.stateMachine.restore(before);
    return true;
  } catch (err) {
    host.fatal(new Error(`state machine could not be put back to its state before snapshot ${index}: ${messageOf(err)}`, { cause: err }));
    return false;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
