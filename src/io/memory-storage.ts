/**
 * A Storage that keeps everything in memory: for tests, for the simulation kit's disk, and for
 * nodes started without a `dataDir`. It follows etcd's MemoryStorage: `ents[0]` is a dummy entry
 * whose index and term are those of the last snapshot, so term lookups at the snapshot boundary
 * need no special case.
 */
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from '../errors.ts';
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
  emptyConfState,
  emptyHardState,
  emptySnapshot,
} from '../raft/raftpb.ts';
import { randomBytes } from 'node:crypto';
import { INCARNATION_BYTES, type PeerIncarnations } from '../raft/member-identity.ts';
import type { InitialState, MemberIdentityRecord, Storage, StorageWrite } from './storage.ts';

const dummy = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });

export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState;
  private confState: ConfState = emptyConfState;
  private snap: Snapshot = emptySnapshot;
  private ents: Entry[] = [dummy(0, 0)];
  /** The staging area: chunks of a snapshot being received (lost with the process, like a crash). */
  private staged: { index: number; chunks: Uint8Array[]; bytes: number } | undefined;
  private incarnation_: string | undefined;
  private peerIncarnations: PeerIncarnations = {};

  /** `incarnation`: this store's identity (hex); a random one is drawn when it is first asked for. */
  constructor(opts: { incarnation?: string } = {}) {
    this.incarnation_ = opts.incarnation;
  }

  /** The random id this store got when it was created: the member's data-directory identity. */
  get incarnation(): string {
    this.incarnation_ ??= randomBytes(INCARNATION_BYTES).toString('hex');
    return this.incarnation_;
  }

  async initialState(): Promise<InitialState> {
    return { hardState: this.hardState, confState: this.confState };
  }

  async memberIdentity(): Promise<MemberIdentityRecord> {
    return { incarnation: this.incarnation, peerIncarnations: this.peerIncarnations };
  }

  /** The peer incarnations recorded in this store. */
  peerIncarnationsSync(): PeerIncarnations {
    return this.peerIncarnations;
  }

  async saveState(st: HardState): Promise<void> {
    this.hardState = st;
  }

  async entries(lo: number, hi: number): Promise<Entry[]> {
    return this.entriesSync(lo, hi);
  }

  async term(i: number): Promise<number> {
    return this.termSync(i);
  }

  async lastIndex(): Promise<number> {
    return this.lastIndexSync();
  }

  async firstIndex(): Promise<number> {
    return this.firstIndexSync();
  }

  async snapshot(): Promise<Snapshot> {
    return this.snap;
  }

  async saveEntries(entries: readonly Entry[]): Promise<void> {
    this.appendSync(entries);
  }

  async saveSnapshot(snap: Snapshot): Promise<void> {
    this.applySnapshotSync(snap);
  }

  async compact(compactIndex: number): Promise<void> {
    this.compactSync(compactIndex);
  }

  async write(batch: StorageWrite): Promise<void> {
    this.writeSync(batch);
  }

  async readStagedSnapshot(index: number, size: number): Promise<Uint8Array> {
    return this.readStagedSnapshotSync(index, size);
  }

  async close(): Promise<void> {}

  // The synchronous forms, for hosts that own a MemoryStorage directly (the simulation kit).

  /** Applies a StorageWrite at once: snapshot first, then entries, then hard and conf state. */
  writeSync(batch: StorageWrite): void {
    if (batch.discardStagedSnapshot) this.staged = undefined;
    for (const c of batch.stagedSnapshotChunks ?? []) {
      if (c.offset === 0 || this.staged?.index !== c.index) this.staged = { index: c.index, chunks: [], bytes: 0 };
      if (c.offset !== this.staged.bytes) continue; // not the next chunk: never left a hole
      this.staged.chunks.push(c.data);
      this.staged.bytes += c.data.byteLength;
    }
    if (batch.snapshot) {
      // Atomic like a disk batch: if the entries are refused after the snapshot was applied, undo it
      // (applySnapshotSync replaces `ents` rather than mutating it, so the old references restore it).
      const before = { snap: this.snap, ents: this.ents, confState: this.confState };
      this.applySnapshotSync(batch.snapshot);
      try {
        if (batch.entries && batch.entries.length > 0) this.appendSync(batch.entries);
      } catch (err) {
        this.snap = before.snap;
        this.ents = before.ents;
        this.confState = before.confState;
        throw err;
      }
    } else if (batch.entries && batch.entries.length > 0) {
      this.appendSync(batch.entries);
    }
    if (batch.hardState) this.hardState = batch.hardState;
    if (batch.confState) this.confState = batch.confState;
    if (batch.peerIncarnations) this.peerIncarnations = batch.peerIncarnations;
  }

  firstIndexSync(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndexSync(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  termSync(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new CompactedError(i, offset + 1);
    if (i - offset >= this.ents.length) throw new UnavailableError(i, this.lastIndexSync());
    return this.ents[i - offset]!.term;
  }

  entriesSync(lo: number, hi: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndexSync() + 1) throw new UnavailableError(hi - 1, this.lastIndexSync());
    if (lo >= hi) return [];
    return this.ents.slice(lo - offset, hi - offset);
  }

  /** Appends entries, discarding any existing entries at and above the first new index. */
  appendSync(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndexSync();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // everything given is already compacted away
    // Drop the part of `entries` that is already covered by the snapshot.
    const skip = first > entries[0]!.index ? first - entries[0]!.index : 0;
    const fresh = skip > 0 ? entries.slice(skip) : entries;
    const offset = fresh[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new UnavailableError(fresh[0]!.index, this.lastIndexSync());
    }
    this.ents.length = offset;
    for (const e of fresh) this.ents.push(e);
  }

  /** Replaces the log with a snapshot. */
  applySnapshotSync(snap: Snapshot): void {
    const cur = this.snap.metadata.index;
    if (cur > 0 && snap.metadata.index <= cur) throw new SnapshotOutOfDateError(snap.metadata.index, cur);
    this.snap = snap;
    this.confState = snap.metadata.confState;
    // Keep entries past the snapshot when they agree with it (the log continues it); otherwise discard all.
    const { index, term } = snap.metadata;
    const offset = this.ents[0]!.index;
    if (index > offset && index - offset < this.ents.length && this.ents[index - offset]!.term === term) {
      this.ents = [dummy(index, term), ...this.ents.slice(index - offset + 1)];
    } else {
      this.ents = [dummy(index, term)];
    }
  }

  /** Records a snapshot taken locally at `index` (which must be in the log) without touching the entries. */
  createSnapshotSync(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    if (index > this.lastIndexSync()) throw new UnavailableError(index, this.lastIndexSync());
    this.snap = { data, metadata: { index, term: this.termSync(index), confState } };
    return this.snap;
  }

  /** Discards entries before `compactIndex`; `compactIndex` becomes the dummy entry. */
  compactSync(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    if (compactIndex > this.lastIndexSync()) throw new UnavailableError(compactIndex, this.lastIndexSync());
    const i = compactIndex - offset;
    this.ents = [dummy(compactIndex, this.ents[i]!.term), ...this.ents.slice(i + 1)];
  }

  /** The staged snapshot at `index`, joined; throws unless exactly `size` bytes are staged for it. */
  readStagedSnapshotSync(index: number, size: number): Uint8Array {
    if (size === 0) return new Uint8Array(0);
    const st = this.staged;
    if (!st || st.index !== index || st.bytes !== size) {
      throw new Error(`the staging area holds ${st ? `${st.bytes} bytes of snapshot ${st.index}` : 'nothing'}, not the ${size} bytes of snapshot ${index}`);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of st.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }

  /** Bytes in the staging area (for tests and status). */
  stagedSnapshotBytes(): number {
    return this.staged?.bytes ?? 0;
  }

  snapshotSync(): Snapshot {
    return this.snap;
  }

  hardStateSync(): HardState {
    return this.hardState;
  }

  confStateSync(): ConfState {
    return this.confState;
  }
}
