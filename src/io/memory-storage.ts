/**
 * A Storage that keeps everything in memory: for tests, for the simulation kit's disk, and for
 * nodes started without a `dataDir`. It follows etcd's MemoryStorage: the log itself is the core's
 * in-memory log (src/raft/memory-log.ts), and this adds the hard and conf state, the staging area
 * of a snapshot being received and the member identity, behind the asynchronous Storage contract.
 */
import { randomBytes } from 'node:crypto';
import { INCARNATION_BYTES, type PeerIncarnations } from '../raft/member-identity.ts';
import { MemoryLog } from '../raft/memory-log.ts';
import { type ConfState, type Entry, type HardState, type Snapshot, emptyConfState, emptyHardState } from '../raft/raftpb.ts';
import type { InitialState, MemberIdentityRecord, Storage, StorageWrite } from './storage.ts';

export class MemoryStorage extends MemoryLog implements Storage {
  private hardState: HardState = emptyHardState;
  private confState: ConfState = emptyConfState;
  /** The staging area: chunks of a snapshot being received (lost with the process, like a crash). */
  private staged: { index: number; chunks: Uint8Array[]; bytes: number } | undefined;
  private incarnation_: string | undefined;
  private peerIncarnations: PeerIncarnations = {};

  /** `incarnation`: this store's identity (hex); a random one is drawn when it is first asked for. */
  constructor(opts: { incarnation?: string } = {}) {
    super();
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

  /** Replaces the log with a snapshot, whose membership becomes the conf state. */
  override applySnapshotSync(snap: Snapshot): void {
    super.applySnapshotSync(snap);
    this.confState = snap.metadata.confState;
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

  hardStateSync(): HardState {
    return this.hardState;
  }

  confStateSync(): ConfState {
    return this.confState;
  }
}
