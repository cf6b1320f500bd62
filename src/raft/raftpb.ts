/**
 * The Raft wire and disk records: the TypeScript counterpart of etcd's `raftpb` package.
 *
 * Every index and term is a JavaScript number. They are checked to be safe integers wherever
 * they enter from the network or the disk; 2^53 entries is far beyond any real log.
 *
 * The "enums" are `as const` objects with a union type of their values, so they are plain data
 * (they survive msgpack round trips unchanged) and need no TypeScript runtime.
 */

/** What an entry carries: a user command or a membership change (Raft §6). */
export const EntryType = {
  Normal: 0,
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One slot of the replicated log. `data` is opaque to Raft except for conf changes. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * The state a node must persist before it answers any RPC (Raft Figure 2, "Persistent state on
 * all servers"). `commit` is persisted too so a restarted node does not have to relearn it.
 */
export interface HardState {
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
}

/** The cluster's members as of some log index: voters count towards quorums, learners do not. */
export interface ConfState {
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  /**
   * The members' addresses, where the host knows them. Stored with the conf state and carried in
   * snapshots so that a node that restarts after compaction, or installs a snapshot, can still reach
   * members it learned of only from entries that are gone. Raft itself never reads it.
   */
  readonly addresses?: Readonly<Record<number, string>>;
}

export interface SnapshotMetadata {
  readonly confState: ConfState;
  readonly index: number;
  readonly term: number;
}

/** A state machine image that replaces the log up to and including `metadata.index` (Raft §7). */
export interface Snapshot {
  readonly data: Uint8Array;
  readonly metadata: SnapshotMetadata;
}

/** The message kinds of etcd/raft, with the same numbers so traces read the same. */
export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
  /**
   * Not in etcd: a follower acknowledges the snapshot chunks it holds so far (`commit` is the
   * byte offset it has received up to, `index` the snapshot's index). Snapshots travel in chunks
   * so that a large state is never one message (see SnapshotTransfer).
   */
  MsgSnapAck: 19,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageTypeNames = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k])) as Record<
  MessageType,
  keyof typeof MessageType
>;

/** `MsgApp`, `MsgVote`, ...: the name of a message type, for logs and errors. */
export function messageTypeName(type: MessageType): string {
  return messageTypeNames[type] ?? `MsgUnknown(${type})`;
}

/** The highest message type number; anything above it from the network is invalid. */
export const MAX_MESSAGE_TYPE: number = Math.max(...Object.values(MessageType));

/**
 * One Raft RPC, request or response. Fields unused by a kind are 0 / false / empty, as in etcd.
 * `index`/`logTerm` are prevLogIndex/prevLogTerm for MsgApp and lastLogIndex/lastLogTerm for
 * votes; `rejectHint` is the follower's hint for fast log backtracking.
 */
export interface Message {
  readonly type: MessageType;
  readonly to: number;
  readonly from: number;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** Opaque request context: the ReadIndex request id, or the campaign kind for MsgTimeoutNow votes. */
  readonly context?: Uint8Array;
  /** MsgSnap only: `snapshot.data` holds bytes [offset, offset + data.length) of a snapshot of `size` bytes. */
  readonly chunk?: SnapshotChunk;
}

export interface SnapshotChunk {
  readonly offset: number;
  readonly size: number;
}

/** A message with every field at its zero value except those given. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    to: 0,
    from: 0,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  UpdateNode: 2,
  AddLearnerNode: 3,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-server membership change (Raft §6, thesis §4.1). `context` carries the peer address. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: number;
  readonly context: Uint8Array;
}

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 });
export const emptyConfState: ConfState = Object.freeze({ voters: [], learners: [] });
export const emptySnapshot: Snapshot = Object.freeze({
  data: new Uint8Array(0),
  metadata: Object.freeze({ confState: emptyConfState, index: 0, term: 0 }),
});

export function isEmptyHardState(st: HardState): boolean {
  return st.term === 0 && st.vote === 0 && st.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptySnapshot(snap: Snapshot | undefined): boolean {
  return snap === undefined || snap.metadata.index === 0;
}
