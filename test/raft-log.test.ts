import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactedError, UnavailableError } from '../src/errors.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { RaftLog, limitSize } from '../src/raft/raft-log.ts';
import { type Entry, EntryType } from '../src/raft/raftpb.ts';

const ent = (index: number, term: number, size = 0): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(size) });
const terms = (es: Entry[]) => es.map((e) => `${e.index}:${e.term}`).join(' ');

function logWith(stable: [number, number][], unstable: [number, number][] = []): RaftLog {
  const st = new MemoryStorage();
  st.appendSync(stable.map(([i, t]) => ent(i, t)));
  const log = new RaftLog(st);
  if (unstable.length) log.append(unstable.map(([i, t]) => ent(i, t)));
  return log;
}

test('indexes and terms span the stable log and the unstable tail', () => {
  const log = logWith([[1, 1], [2, 1]], [[3, 2], [4, 2]]);
  assert.is(log.firstIndex(), 1);
  assert.is(log.lastIndex(), 4);
  assert.is(log.term(2), 1);
  assert.is(log.term(4), 2);
  assert.is(log.term(0), 0);
  assert.is(log.lastTerm(), 2);
  assert.throws(() => log.term(5), (e: unknown) => e instanceof UnavailableError);
  assert.is(terms(log.slice(1, 5)), '1:1 2:1 3:2 4:2');
  assert.is(terms(log.slice(2, 4)), '2:1 3:2');
});

test('findConflict: the first entry that does not match or extends the log', () => {
  const log = logWith([[1, 1], [2, 2], [3, 3]]);
  const cases: [[number, number][], number][] = [
    [[], 0],
    [[[1, 1], [2, 2], [3, 3]], 0],
    [[[2, 2], [3, 3]], 0],
    [[[2, 2], [3, 3], [4, 4]], 4],
    [[[1, 4], [2, 4]], 1],
    [[[2, 1], [3, 4], [4, 4]], 2],
    [[[3, 1], [4, 2]], 3],
  ];
  for (const [es, want] of cases) assert.is(log.findConflict(es.map(([i, t]) => ent(i, t))), want, JSON.stringify(es));
});

test('maybeAppend: consistency check, truncation at the first conflict, commit capped at last new entry', () => {
  type Case = { prev: [number, number]; commit: number; ents: [number, number][]; want: number | undefined; commitAfter: number; log: string };
  const cases: Case[] = [
    { prev: [3, 2], commit: 3, ents: [], want: 3, commitAfter: 1, log: '1:1 2:2 3:3' }, // prev term mismatch → reject below
    { prev: [3, 3], commit: 3, ents: [], want: 3, commitAfter: 3, log: '1:1 2:2 3:3' },
    { prev: [3, 3], commit: 4, ents: [[4, 4]], want: 4, commitAfter: 4, log: '1:1 2:2 3:3 4:4' },
    { prev: [2, 2], commit: 2, ents: [[3, 4]], want: 3, commitAfter: 2, log: '1:1 2:2 3:4' },
    { prev: [1, 1], commit: 10, ents: [[2, 2], [3, 3], [4, 4]], want: 4, commitAfter: 4, log: '1:1 2:2 3:3 4:4' },
    { prev: [4, 3], commit: 3, ents: [], want: undefined, commitAfter: 1, log: '1:1 2:2 3:3' },
  ];
  cases[0]!.want = undefined;
  for (const c of cases) {
    const log = logWith([[1, 1], [2, 2], [3, 3]]);
    log.commitTo(1);
    const got = log.maybeAppend(c.prev[0], c.prev[1], c.commit, c.ents.map(([i, t]) => ent(i, t)));
    assert.is(got, c.want, JSON.stringify(c));
    assert.is(log.committed, c.commitAfter, JSON.stringify(c));
    assert.is(terms(log.slice(1, log.lastIndex() + 1)), c.log, JSON.stringify(c));
  }
});

test('never overwrites committed entries', () => {
  const log = logWith([[1, 1], [2, 1], [3, 1]]);
  log.commitTo(3);
  assert.throws(() => log.maybeAppend(1, 1, 3, [ent(2, 2)]), /committed/);
});

test('isUpToDate compares last term, then length (Raft §5.4.1)', () => {
  const log = logWith([[1, 1], [2, 2], [3, 3]]);
  const cases: [number, number, boolean][] = [
    [2, 4, true],
    [3, 4, true],
    [4, 4, true],
    [2, 2, false],
    [3, 2, false],
    [4, 2, false],
    [2, 3, false],
    [3, 3, true],
    [4, 3, true],
  ];
  for (const [i, t, want] of cases) assert.is(log.isUpToDate(i, t), want, `lastIndex ${i} lastTerm ${t}`);
});

test('findConflictByTerm skips a whole term at a time', () => {
  const log = logWith([[1, 1], [2, 1], [3, 2], [4, 2], [5, 2], [6, 5], [7, 5]]);
  const cases: [number, number, number][] = [
    [7, 5, 7],
    [7, 4, 5],
    [7, 2, 5],
    [7, 1, 2],
    [5, 1, 2],
    [7, 0, 0],
    [10, 3, 5],
  ];
  for (const [i, t, want] of cases) assert.is(log.findConflictByTerm(i, t).index, want, `(${i}, ${t})`);
});

test('maybeCommit only commits entries of the given term (Raft §5.4.2)', () => {
  const log = logWith([[1, 1], [2, 2], [3, 3]]);
  assert.not.ok(log.maybeCommit(2, 3));
  assert.is(log.committed, 0);
  assert.ok(log.maybeCommit(3, 3));
  assert.is(log.committed, 3);
});

test('stableTo moves persisted entries out of the unstable tail; a stale report is ignored', () => {
  const log = logWith([[1, 1]], [[2, 1], [3, 1]]);
  log.unstable.acceptInProgress();
  assert.is(log.maxAppliableIndex(), 0);
  log.stableTo(3, 2); // wrong term: entries were replaced meanwhile
  assert.is(log.unstable.offset, 2);
  log.stableTo(2, 1);
  assert.is(log.unstable.offset, 3);
  assert.is(log.stable.lastIndexSync(), 2);
  log.commitTo(3);
  assert.is(log.maxAppliableIndex(), 2, 'committed but not yet durable here: not applied');
  log.stableTo(3, 1);
  assert.is(terms(log.nextCommittedEntries(Infinity)), '1:1 2:1 3:1');
});

test('slices respect compaction and the size limit', () => {
  const st = new MemoryStorage();
  st.appendSync([ent(1, 1, 10), ent(2, 1, 10), ent(3, 1, 10), ent(4, 1, 10)]);
  st.compactSync(2);
  const log = new RaftLog(st);
  assert.is(log.firstIndex(), 3);
  assert.is(log.term(2), 1);
  assert.throws(() => log.slice(2, 4), (e: unknown) => e instanceof CompactedError);
  assert.is(log.slice(3, 5, 15).length, 1);
  assert.is(log.slice(3, 5, 20).length, 2);
  assert.is(limitSize([ent(1, 1, 100)], 1).length, 1, 'always at least one entry');
});

test('a conflicting append replaces part of the stable log until the new entries are durable', () => {
  const log = logWith([[1, 1], [2, 1], [3, 1]]);
  log.append([ent(2, 2), ent(3, 2)]);
  assert.is(terms(log.slice(1, 4)), '1:1 2:2 3:2');
  assert.is(log.unstable.offset, 2);
  log.unstable.acceptInProgress();
  log.stableTo(3, 2);
  assert.is(terms(log.stable.entriesSync(1, 4)), '1:1 2:2 3:2');
});

test.run();
