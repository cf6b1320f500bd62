/**
 * The checks a store runs on its own records when it opens: cheap comparisons of numbers it has
 * already read (and of key counts), each of which proves that writes were lost or records mixed.
 *
 * Why refuse to start rather than repair: Raft's safety argument assumes that what a member
 * persisted before answering an RPC survives (Figure 2, "updated on stable storage before
 * responding to RPCs"). A member whose log ends below its own durable commit index has lost
 * entries it acknowledged; letting it vote or acknowledge again under its id could elect a leader
 * without a committed entry (§5.4.1) or count a replica that is not there (§5.4.2). The only safe
 * way back is to remove the member and add it again with an empty directory.
 *
 * What these checks cannot see: the loss of a *suffix* of whole batches (a LevelDB `.log` tail cut
 * off after a crash, a disk that acknowledged an fsync it did not do). Every batch writes entries
 * together with the hard state that covers them, so what remains is exactly the state of an
 * earlier moment and contradicts nothing. That case is caught at run time instead, when the leader
 * says entries are committed that this member no longer holds (see `checkLeaderCommit`).
 */
import { MAX_RAFT_NUMBER } from '../raft/bounds.ts';
import type { ConfState, HardState } from '../raft/raftpb.ts';

/** What a store knows about itself after reading its records (no entry data needed). */
export interface DurableSummary {
  /** The hard state, or undefined when the record was never written. */
  readonly hardState: HardState | undefined;
  /** The conf state, or undefined when the record was never written. */
  readonly confState: ConfState | undefined;
  /** The log start (compaction point) and the last entry. */
  readonly log: { readonly startIndex: number; readonly startTerm: number; readonly lastIndex: number; readonly lastTerm: number };
  /** The first index in (startIndex, lastIndex] with no entry key, if any (keys scanned, values not read). */
  readonly missingEntry: number | undefined;
  /** The snapshot record, or undefined when none was ever saved. */
  readonly snapshot:
    | {
        readonly index: number;
        readonly term: number;
        readonly confState: ConfState;
        readonly size: number;
        readonly chunkSize: number;
        /** Chunk keys stored for this snapshot, and the first chunk number missing among them. */
        readonly chunkCount: number;
        readonly missingChunk: number | undefined;
      }
    | undefined;
  /**
   * Whether to check the Raft invariants between hard state and log (commit within the log, term
   * not older than the log). A Raft member always wants them; a store used as a plain ordered log
   * (the Storage contract allows any values) may skip them.
   */
  readonly raftInvariants: boolean;
}

/** One contradiction: the records involved and what is wrong, with the numbers. */
export interface Inconsistency {
  readonly key: string;
  readonly detail: string;
}

/** Returns the first contradiction among a store's records, or undefined when they agree. */
export function findInconsistency(s: DurableSummary): Inconsistency | undefined {
  const { log, hardState: hs, snapshot: snap } = s;
  const beyond = findBeyondBound(s);
  if (beyond) return beyond;
  if (s.missingEntry !== undefined) {
    return {
      key: `entry/${s.missingEntry}`,
      detail: `entry is missing although the log spans ${log.startIndex + 1}..${log.lastIndex}: there is a gap in the entries`,
    };
  }
  if (hs !== undefined && s.raftInvariants) {
    if (hs.commit > log.lastIndex) {
      return {
        key: 'hardState',
        detail: `the durable commit index is ${hs.commit} but the log ends at index ${log.lastIndex}: committed entries ${log.lastIndex + 1}..${hs.commit} are gone (log tail lost)`,
      };
    }
    if (hs.term < log.lastTerm) {
      return {
        key: `hardState, entry/${log.lastIndex}`,
        detail: `the hard state's term is ${hs.term} but the last entry (index ${log.lastIndex}) has term ${log.lastTerm}: the hard state is older than the log`,
      };
    }
    if (hs.term < log.startTerm) {
      return {
        key: 'hardState, logStart',
        detail: `the hard state's term is ${hs.term} but the log starts after an entry of term ${log.startTerm} (index ${log.startIndex})`,
      };
    }
  }
  if (snap !== undefined) {
    if (log.startIndex < snap.index) {
      return {
        key: 'logStart, snapshotMeta',
        detail: `the log starts after index ${log.startIndex} but the snapshot covers up to index ${snap.index}: the entries do not follow the snapshot`,
      };
    }
    if (log.startIndex === snap.index && log.startTerm !== snap.term) {
      return {
        key: 'logStart, snapshotMeta',
        detail: `the log starts after index ${log.startIndex} of term ${log.startTerm} but the snapshot at that index has term ${snap.term}`,
      };
    }
    const chunks = Math.ceil(snap.size / snap.chunkSize);
    if (snap.chunkCount !== chunks || (snap.missingChunk !== undefined && snap.missingChunk < chunks)) {
      const which = snap.missingChunk !== undefined && snap.missingChunk < chunks ? `chunk ${snap.missingChunk} is missing` : `${snap.chunkCount} chunks are stored`;
      return {
        key: `snapshotMeta, snapshotChunk/${snap.missingChunk ?? snap.chunkCount}`,
        detail: `the snapshot at index ${snap.index} has ${snap.size} bytes in chunks of ${snap.chunkSize} (${chunks} chunks) but ${which}`,
      };
    }
    const members = snap.confState.voters.length + snap.confState.learners.length;
    const current = s.confState === undefined ? 0 : s.confState.voters.length + s.confState.learners.length;
    if (members > 0 && current === 0) {
      return {
        key: 'confState, snapshotMeta',
        detail: `the snapshot at index ${snap.index} has ${members} members but the stored membership is empty: the snapshot and its conf state were not written together`,
      };
    }
  }
  if (s.confState !== undefined) {
    const both = s.confState.voters.filter((v) => s.confState!.learners.includes(v));
    if (both.length > 0) {
      return { key: 'confState', detail: `node(s) ${both.join(', ')} are both voters and learners` };
    }
  }
  return undefined;
}

/**
 * Terms and indexes above MAX_RAFT_NUMBER (2^48) are refused on the wire; one found on disk was
 * not written by this implementation (a forged or corrupted record, or a foreign store). The node
 * could not run on it anyway: it refuses to raise its term past the bound, so a member loaded with
 * such a term could never campaign again, and `index + 1` would no longer be exact near 2^53.
 * The vote is a node id, not a count, and is not bounded here (node ids may go up to 2^53 - 1).
 */
function findBeyondBound(s: DurableSummary): Inconsistency | undefined {
  const fields: [key: string, what: string, value: number | undefined][] = [
    ['hardState', 'term', s.hardState?.term],
    ['hardState', 'commit index', s.hardState?.commit],
    ['logStart', 'log start index', s.log.startIndex],
    ['logStart', 'log start term', s.log.startTerm],
    [`entry/${s.log.lastIndex}`, 'last entry index', s.log.lastIndex],
    [`entry/${s.log.lastIndex}`, 'last entry term', s.log.lastTerm],
    ['snapshotMeta', 'snapshot index', s.snapshot?.index],
    ['snapshotMeta', 'snapshot term', s.snapshot?.term],
  ];
  for (const [key, what, value] of fields) {
    if (value !== undefined && !(value <= MAX_RAFT_NUMBER)) {
      return { key, detail: `the ${what} is ${value}, above the bound 2^48 (${MAX_RAFT_NUMBER}) of every Raft term and index: the record was not written by this implementation` };
    }
  }
  return undefined;
}

/**
 * The run-time guard for what `findInconsistency` cannot see (etcd's `commitTo` panics the same
 * way: "Was the raft log corrupted, truncated, or lost?"). A leader tells a follower it may commit
 * up to `min(match, commit)`, where `match` is what the follower acknowledged. A commit index
 * beyond the follower's last index therefore means the follower acknowledged entries it no longer
 * holds. Left alone it answers every append with a rejection the leader rightly ignores as stale
 * (the index is below `match`), and stays in probe forever. Returns the explanation, or undefined.
 */
export function checkLeaderCommit(leaderCommit: number, lastIndex: number): string | undefined {
  if (leaderCommit <= lastIndex) return undefined;
  return `the leader says index ${leaderCommit} is committed and held here, but the log ends at index ${lastIndex}: the log was truncated, corrupted or lost after it was acknowledged`;
}
