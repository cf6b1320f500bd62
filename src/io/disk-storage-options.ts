/** What `DiskStorage.open` can be told: read by the store and by its open-time checks (disk-open.ts). */
export interface DiskStorageOptions {
  /** This node's id: recorded at first open, checked at every later open. */
  readonly nodeId?: number;
  /** The cluster's id: recorded at first open (or the first open that gives one), checked later. */
  readonly clusterId?: string;
  /** Size of the chunks new snapshots are stored in (default 1 MiB). Existing snapshots keep theirs. */
  readonly snapshotChunkSize?: number;
  /**
   * Refuse to open when the hard state contradicts the log: a commit index beyond the last entry,
   * a term older than the last entry's (default true; a Raft member always wants this). Only a
   * store used as a plain log outside Raft, where any values are allowed, turns it off.
   */
  readonly checkRaftInvariants?: boolean;
}
