/**
 * Group commit, apart from the storage actor: the operator (one commit in flight, everything that
 * arrives meanwhile in the next one, in order, errors ending the stream) and the merging of queued
 * writes (same outcome as writing one by one; limits, gaps, overwrites and snapshots split a batch).
 * Commits here are Subjects the test completes by hand, so every interleaving is exact.
 */
import { Subject, of, throwError } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { groupCommit } from '../src/actors/group-commit.ts';
import { type MergedWrite, type QueuedWrite, mergeWrites } from '../src/actors/merge-writes.ts';
import type { StorageWrite } from '../src/io/storage.ts';
import type { Entry, Snapshot } from '../src/raft/raftpb.ts';
import { EntryType } from '../src/raft/raftpb.ts';

// ---------------------------------------------------------------------------------------------
// The operator
// ---------------------------------------------------------------------------------------------

/** A source, and commits the test finishes one at a time; `log` says what happened, in order. */
function harness() {
  const source = new Subject<string>();
  const commits: { batch: string[]; done: Subject<string>; finished: boolean }[] = [];
  const log: string[] = [];
  const sub = source
    .pipe(
      groupCommit((batch: string[]) => {
        const done = new Subject<string>();
        commits.push({ batch, done, finished: false });
        log.push(`commit ${batch.join(',')}`);
        return done;
      }),
    )
    .subscribe({ next: (v) => log.push(`out ${v}`), error: (e: unknown) => log.push(`error ${(e as Error).message}`), complete: () => log.push('complete') });
  /** Finishes the oldest unfinished commit, emitting `out` first (or failing it with `fail`). */
  const finish = (fail?: string): void => {
    const c = commits.find((x) => !x.finished)!;
    c.finished = true;
    if (fail) c.done.error(new Error(fail));
    else {
      c.done.next(c.batch.join('+'));
      c.done.complete();
    }
  };
  return { source, log, finish, sub };
}

type Step = string | { finish: true } | { fail: string } | { complete: true } | { sourceError: string } | { unsubscribe: true };

const operatorCases: { name: string; steps: Step[]; log: string[] }[] = [
  { name: 'an idle stream commits the first item at once, alone', steps: ['a'], log: ['commit a'] },
  {
    name: 'everything that arrives during a commit goes into ONE next commit, in arrival order',
    steps: ['a', 'b', 'c', 'd', { finish: true }, { finish: true }],
    log: ['commit a', 'out a', 'commit b,c,d', 'out b+c+d'],
  },
  {
    name: 'after the queue drains the next item commits at once again',
    steps: ['a', { finish: true }, 'b', { finish: true }],
    log: ['commit a', 'out a', 'commit b', 'out b'],
  },
  {
    name: 'completion of the source waits for the commit in flight and the queued one',
    steps: ['a', 'b', { complete: true }, { finish: true }, { finish: true }],
    log: ['commit a', 'out a', 'commit b', 'out b', 'complete'],
  },
  { name: 'an idle stream completes with its source', steps: [{ complete: true }], log: ['complete'] },
  {
    name: 'a failed commit ends the stream with its error; what was queued is never committed',
    steps: ['a', 'b', { fail: 'disk' }, 'c'],
    log: ['commit a', 'error disk'],
  },
  { name: 'a source error ends the stream at once', steps: ['a', { sourceError: 'boom' }], log: ['commit a', 'error boom'] },
  {
    name: 'unsubscribing drops the commit in flight: its result is never emitted',
    steps: ['a', 'b', { unsubscribe: true }, { finish: true }],
    log: ['commit a'],
  },
];

for (const c of operatorCases) {
  test(`groupCommit: ${c.name}`, () => {
    const h = harness();
    for (const s of c.steps) {
      if (typeof s === 'string') h.source.next(s);
      else if ('finish' in s) h.finish();
      else if ('fail' in s) h.finish(s.fail);
      else if ('complete' in s) h.source.complete();
      else if ('sourceError' in s) h.source.error(new Error(s.sourceError));
      else h.sub.unsubscribe();
    }
    assert.equal(h.log, c.log);
  });
}

test('groupCommit: commits that finish synchronously still commit one at a time, each item in order', () => {
  const batches: number[][] = [];
  const out: number[] = [];
  of(1, 2, 3)
    .pipe(groupCommit((batch: number[]) => (batches.push(batch), of(batch.length))))
    .subscribe((n) => out.push(n));
  assert.equal(batches, [[1], [2], [3]]);
  assert.equal(out, [1, 1, 1]);
});

test('groupCommit: a commit that errors synchronously ends the stream before the next item', () => {
  const batches: number[][] = [];
  let error: unknown;
  of(1, 2)
    .pipe(groupCommit((batch: number[]) => (batches.push(batch), throwError(() => new Error('sync')))))
    .subscribe({ error: (e: unknown) => (error = e) });
  assert.equal(batches, [[1]]);
  assert.is((error as Error).message, 'sync');
});

// ---------------------------------------------------------------------------------------------
// Merging queued writes
// ---------------------------------------------------------------------------------------------

/** Entries lo..hi at `term`, each carrying `bytes` of data. */
function ents(lo: number, hi: number, term: number, bytes = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push({ index: i, term, type: EntryType.Normal, data: new Uint8Array(bytes) });
  return out;
}

function snap(index: number, term: number): Snapshot {
  return { data: new Uint8Array(0), metadata: { index, term, confState: { voters: [1], learners: [] } } };
}

const hs = (term: number, commit = 0) => ({ term, vote: 1, commit });

/** A merged write in a line: `seqs 1-3: 1/1 2/1 3/2 | hs t2 c1 | conf 1,2 | snap 5 | staged 0,3 | discard`. */
function describe(m: MergedWrite): string {
  const w = m.write;
  const parts = [`seqs ${m.firstSeq}-${m.lastSeq}:`];
  if (w.entries?.length) parts.push(w.entries.map((e) => `${e.index}/${e.term}`).join(' '));
  if (w.hardState) parts.push(`| hs t${w.hardState.term} c${w.hardState.commit}`);
  if (w.confState) parts.push(`| conf ${w.confState.voters.join(',')}`);
  if (w.snapshot) parts.push(`| snap ${w.snapshot.metadata.index}`);
  if (w.stagedSnapshotChunks?.length) parts.push(`| staged ${w.stagedSnapshotChunks.map((c) => c.offset).join(',')}`);
  if (w.discardStagedSnapshot) parts.push('| discard');
  if (w.sync === false) parts.push('| unsynced');
  return parts.join(' ');
}

const LOOSE = { maxBatchEntries: 1000, maxBatchBytes: 1 << 20 };

const mergeCases: { name: string; writes: StorageWrite[]; limits?: { maxBatchEntries: number; maxBatchBytes: number }; want: string[] }[] = [
  { name: 'nothing queued: no write', writes: [], want: [] },
  {
    name: 'contiguous appends become one write covering every sequence number',
    writes: [{ entries: ents(1, 2, 1) }, { entries: ents(3, 3, 1) }, { entries: ents(4, 5, 1) }],
    want: ['seqs 1-3: 1/1 2/1 3/1 4/1 5/1'],
  },
  {
    name: 'an overwrite inside the merged list truncates it there first (§5.3)',
    writes: [{ entries: ents(1, 4, 1) }, { entries: ents(3, 3, 2) }],
    want: ['seqs 1-2: 1/1 2/1 3/2'],
  },
  {
    name: 'an overwrite of the whole merged list replaces it',
    writes: [{ entries: ents(3, 4, 1) }, { entries: ents(3, 5, 2) }],
    want: ['seqs 1-2: 3/2 4/2 5/2'],
  },
  {
    name: 'a gap starts a new write, so the storage refuses it where writing one by one would',
    writes: [{ entries: ents(1, 2, 1) }, { entries: ents(4, 4, 1) }],
    want: ['seqs 1-1: 1/1 2/1', 'seqs 2-2: 4/1'],
  },
  {
    name: 'an overwrite reaching below the merged list starts a new write',
    writes: [{ entries: ents(3, 4, 1) }, { entries: ents(2, 2, 2) }],
    want: ['seqs 1-1: 3/1 4/1', 'seqs 2-2: 2/2'],
  },
  {
    name: 'the latest hard state and conf state win; entries keep merging around them',
    writes: [{ entries: ents(1, 1, 1), hardState: hs(1) }, { hardState: hs(2, 1), confState: { voters: [1, 2], learners: [] } }, { entries: ents(2, 2, 2), hardState: hs(2, 2) }],
    want: ['seqs 1-3: 1/1 2/2 | hs t2 c2 | conf 1,2'],
  },
  {
    name: 'commit-only writes merged together stay unsynced (no fsync for a commit index)',
    writes: [{ hardState: hs(1, 1), sync: false }, { hardState: hs(1, 2), sync: false }],
    want: ['seqs 1-2: | hs t1 c2 | unsynced'],
  },
  {
    name: 'a commit-only write merged after one that must sync is synced with it',
    writes: [{ entries: ents(1, 1, 1), hardState: hs(1) }, { hardState: hs(1, 1), sync: false }],
    want: ['seqs 1-2: 1/1 | hs t1 c1'],
  },
  {
    name: 'a write that must sync makes the unsynced writes before it durable in the same batch',
    writes: [{ hardState: hs(1, 1), sync: false }, { entries: ents(2, 2, 1) }],
    want: ['seqs 1-2: 2/1 | hs t1 c1'],
  },
  {
    name: 'a snapshot never joins a batch: it starts the next write',
    writes: [{ entries: ents(1, 2, 1) }, { snapshot: snap(5, 2) }],
    want: ['seqs 1-1: 1/1 2/1', 'seqs 2-2: | snap 5'],
  },
  {
    name: 'entries after a snapshot join it; the ones it covers are dropped as the storage would',
    writes: [{ snapshot: snap(5, 2) }, { entries: ents(4, 7, 2) }, { entries: ents(8, 8, 2) }],
    want: ['seqs 1-3: 6/2 7/2 8/2 | snap 5'],
  },
  {
    name: 'entries a snapshot covers entirely add nothing but their sequence number',
    writes: [{ snapshot: snap(5, 2) }, { entries: ents(3, 5, 2) }],
    want: ['seqs 1-2: | snap 5'],
  },
  {
    name: 'staged snapshot chunks concatenate; emptying the staging area starts a new write',
    writes: [
      { stagedSnapshotChunks: [{ index: 9, term: 2, offset: 0, data: new Uint8Array(3) }] },
      { stagedSnapshotChunks: [{ index: 9, term: 2, offset: 3, data: new Uint8Array(3) }] },
      { discardStagedSnapshot: true },
    ],
    want: ['seqs 1-2: | staged 0,3', 'seqs 3-3: | discard'],
  },
  {
    name: 'the entry limit splits a batch; what does not fit starts the next write',
    writes: [{ entries: ents(1, 2, 1) }, { entries: ents(3, 4, 1) }, { entries: ents(5, 5, 1) }],
    limits: { maxBatchEntries: 4, maxBatchBytes: 1 << 20 },
    want: ['seqs 1-2: 1/1 2/1 3/1 4/1', 'seqs 3-3: 5/1'],
  },
  {
    name: 'the byte limit splits a batch at exactly the limit',
    writes: [{ entries: ents(1, 1, 1, 40) }, { entries: ents(2, 2, 1, 60) }, { entries: ents(3, 3, 1, 1) }],
    limits: { maxBatchEntries: 1000, maxBatchBytes: 100 },
    want: ['seqs 1-2: 1/1 2/1', 'seqs 3-3: 3/1'],
  },
  {
    name: 'a first write larger than the limits still goes out, alone',
    writes: [{ entries: ents(1, 5, 1) }, { entries: ents(6, 6, 1) }],
    limits: { maxBatchEntries: 2, maxBatchBytes: 1 << 20 },
    want: ['seqs 1-1: 1/1 2/1 3/1 4/1 5/1', 'seqs 2-2: 6/1'],
  },
  {
    name: 'an append larger than the limits joins a write that has no entries yet (one write, not two)',
    writes: [{ hardState: hs(1) }, { entries: ents(1, 3, 1) }],
    limits: { maxBatchEntries: 2, maxBatchBytes: 1 << 20 },
    want: ['seqs 1-2: 1/1 2/1 3/1 | hs t1 c0'],
  },
  {
    name: 'the limits count an overwrite in full (they bound the write, erring on the small side)',
    writes: [{ entries: ents(1, 4, 1) }, { entries: ents(2, 2, 2) }, { entries: ents(3, 4, 2) }],
    limits: { maxBatchEntries: 4, maxBatchBytes: 1 << 20 },
    want: ['seqs 1-1: 1/1 2/1 3/1 4/1', 'seqs 2-3: 2/2 3/2 4/2'],
  },
];

for (const c of mergeCases) {
  test(`mergeWrites: ${c.name}`, () => {
    const queued: QueuedWrite[] = c.writes.map((write, i) => ({ seq: i + 1, write }));
    assert.equal(mergeWrites(queued, c.limits ?? LOOSE).map(describe), c.want);
  });
}

test("mergeWrites: never changes the submitter's entry arrays", () => {
  const first = ents(1, 3, 1);
  const copy = [...first];
  mergeWrites(
    [
      { seq: 1, write: { entries: first } },
      { seq: 2, write: { entries: ents(2, 2, 2) } },
      { seq: 3, write: { entries: ents(3, 4, 2) } },
    ],
    LOOSE,
  );
  assert.equal(first, copy);
});

test.run();
