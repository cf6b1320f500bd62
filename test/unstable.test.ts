/**
 * The unstable tail of the log (src/raft/unstable.ts): entries and a snapshot not yet durable.
 * Each case builds a tail, applies operations, and checks what the rest of the core reads from it:
 * its bounds, terms, what is still to be handed to storage, and what survives a durability report.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Entry, EntryType, type Snapshot } from '../src/raft/raftpb.ts';
import { Unstable } from '../src/raft/unstable.ts';

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });
const ents = (lo: number, hi: number, term: number): Entry[] => Array.from({ length: hi - lo + 1 }, (_, k) => ent(lo + k, term));
const snap = (index: number, term: number): Snapshot => ({ data: new Uint8Array(0), metadata: { index, term, confState: { voters: [1], learners: [] } } });

/** What the core sees of a tail, in one line. */
function view(u: Unstable): string {
  const list = u.entries.map((e) => `${e.index}/${e.term}`).join(' ');
  const next = u.nextEntries().map((e) => e.index).join(',');
  const s = u.snapshot ? ` snap ${u.snapshot.metadata.index}${u.snapshotInProgress ? ' (in progress)' : ''}` : '';
  return `offset ${u.offset} [${list}] next [${next}]${s}`;
}

type Op = ['append', Entry[]] | ['accept'] | ['stableTo', number, number] | ['restore', Snapshot] | ['stableSnapTo', number];

function run(offset: number, ops: readonly Op[]): Unstable {
  const u = new Unstable(offset);
  for (const op of ops) {
    if (op[0] === 'append') u.truncateAndAppend(op[1]);
    else if (op[0] === 'accept') u.acceptInProgress();
    else if (op[0] === 'stableTo') u.stableTo(op[1], op[2]);
    else if (op[0] === 'restore') u.restore(op[1]);
    else u.stableSnapTo(op[1]);
  }
  return u;
}

const cases: { name: string; offset: number; ops: Op[]; want: string }[] = [
  { name: 'an empty tail', offset: 5, ops: [], want: 'offset 5 [] next []' },
  { name: 'appending at the end extends the tail', offset: 5, ops: [['append', ents(5, 6, 1)], ['append', ents(7, 7, 1)]], want: 'offset 5 [5/1 6/1 7/1] next [5,6,7]' },
  {
    name: 'a conflicting append inside the tail drops the suffix from that index (§5.3)',
    offset: 5,
    ops: [['append', ents(5, 8, 1)], ['append', ents(7, 7, 2)]],
    want: 'offset 5 [5/1 6/1 7/2] next [5,6,7]',
  },
  {
    name: 'an append at or below the offset replaces the whole tail and moves the offset back',
    offset: 5,
    ops: [['append', ents(5, 6, 1)], ['append', ents(3, 4, 2)]],
    want: 'offset 3 [3/2 4/2] next [3,4]',
  },
  { name: 'entries handed to storage are not handed out again', offset: 5, ops: [['append', ents(5, 6, 1)], ['accept'], ['append', ents(7, 7, 1)]], want: 'offset 5 [5/1 6/1 7/1] next [7]' },
  {
    name: 'a conflict below the in-progress mark hands the new entries out again',
    offset: 5,
    ops: [['append', ents(5, 7, 1)], ['accept'], ['append', ents(6, 6, 2)]],
    want: 'offset 5 [5/1 6/2] next [6]',
  },
  { name: 'durable up to (index, term) drops those entries', offset: 5, ops: [['append', ents(5, 7, 1)], ['accept'], ['stableTo', 6, 1]], want: 'offset 7 [7/1] next []' },
  {
    name: 'a durability report for a replaced entry (other term) is ignored',
    offset: 5,
    ops: [['append', ents(5, 7, 1)], ['accept'], ['append', ents(6, 6, 2)], ['stableTo', 6, 1]],
    want: 'offset 5 [5/1 6/2] next [6]',
  },
  { name: 'a durability report past the tail is ignored', offset: 5, ops: [['append', ents(5, 5, 1)], ['stableTo', 9, 1]], want: 'offset 5 [5/1] next [5]' },
  { name: 'a durability report below the offset is ignored', offset: 5, ops: [['append', ents(5, 5, 1)], ['stableTo', 4, 1]], want: 'offset 5 [5/1] next [5]' },
  {
    name: 'durable entries the storage had not been handed yet move the in-progress mark along',
    offset: 5,
    ops: [['append', ents(5, 9, 1)], ['stableTo', 6, 1]],
    want: 'offset 7 [7/1 8/1 9/1] next [7,8,9]',
  },
  { name: 'restoring a snapshot empties the tail and starts after it', offset: 5, ops: [['append', ents(5, 7, 1)], ['restore', snap(20, 3)]], want: 'offset 21 [] next [] snap 20' },
  { name: 'a handed-out snapshot is marked in progress', offset: 5, ops: [['restore', snap(20, 3)], ['accept']], want: 'offset 21 [] next [] snap 20 (in progress)' },
  { name: 'a durable snapshot leaves the tail', offset: 5, ops: [['restore', snap(20, 3)], ['accept'], ['stableSnapTo', 20]], want: 'offset 21 [] next []' },
  { name: 'a durability report for another snapshot keeps the pending one', offset: 5, ops: [['restore', snap(20, 3)], ['stableSnapTo', 19]], want: 'offset 21 [] next [] snap 20' },
];

for (const c of cases) {
  test(`unstable: ${c.name}`, () => {
    assert.is(view(run(c.offset, c.ops)), c.want);
  });
}

test('unstable: bounds and terms come from the entries, else from a pending snapshot, else are unknown', () => {
  const table: { ops: Op[]; first: number | undefined; last: number | undefined; terms: [number, number | undefined][] }[] = [
    { ops: [], first: undefined, last: undefined, terms: [[5, undefined]] },
    { ops: [['append', ents(5, 6, 2)]], first: undefined, last: 6, terms: [[4, undefined], [5, 2], [6, 2], [7, undefined]] },
    { ops: [['restore', snap(20, 3)]], first: 21, last: 20, terms: [[19, undefined], [20, 3], [21, undefined]] },
    { ops: [['restore', snap(20, 3)], ['append', ents(21, 22, 4)]], first: 21, last: 22, terms: [[20, 3], [21, 4], [22, 4], [23, undefined]] },
  ];
  for (const t of table) {
    const u = run(5, t.ops);
    assert.is(u.maybeFirstIndex(), t.first, `first after ${JSON.stringify(t.ops)}`);
    assert.is(u.maybeLastIndex(), t.last, `last after ${JSON.stringify(t.ops)}`);
    for (const [i, term] of t.terms) assert.is(u.maybeTerm(i), term, `term(${i}) after ${JSON.stringify(t.ops)}`);
  }
});

test('unstable: hasNextEntries agrees with nextEntries, and slice reads [lo, hi)', () => {
  const u = run(5, [['append', ents(5, 8, 1)]]);
  assert.ok(u.hasNextEntries());
  assert.equal(u.slice(6, 8).map((e) => e.index), [6, 7]);
  u.acceptInProgress();
  assert.not.ok(u.hasNextEntries());
  assert.equal(u.nextEntries(), []);
  assert.is(u.nextSnapshot(), undefined);
  u.restore(snap(20, 3));
  assert.is(u.nextSnapshot()?.metadata.index, 20);
  u.acceptInProgress();
  assert.is(u.nextSnapshot(), undefined, 'a snapshot in progress is not handed out twice');
});

test.run();
