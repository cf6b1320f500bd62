/**
 * DiskStorage.open refuses records carrying a term or index above MAX_RAFT_NUMBER (2^48), the
 * bound the wire enforces: such a record was not written by this implementation, and a member
 * loaded with it could never campaign past its term. Written on a real LevelDB directory through
 * the store's own keys and codec, behind DiskStorage's back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageInconsistentError } from '../src/errors.ts';
import { decode, encode } from '../src/raft/codec.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { diskKeys } from '../src/io/disk-keys.ts';
import { MAX_RAFT_NUMBER } from '../src/raft/bounds.ts';
import { entries, rejects, tempDir, type RawDb, withRawDb } from './fixtures/log-fixtures.ts';


const over = MAX_RAFT_NUMBER + 1;

const cases: { name: string; damage: (db: RawDb) => Promise<void>; key: string; detail: RegExp }[] = [
  { name: 'hard state term above 2^48', damage: (db) => db.put(diskKeys.hardState, encode({ term: over, vote: 1, commit: 3 })), key: 'hardState', detail: new RegExp(`term is ${over}, above the bound 2\\^48 \\(${MAX_RAFT_NUMBER}\\)`) },
  { name: 'hard state term at 2^53 - 1', damage: (db) => db.put(diskKeys.hardState, encode({ term: Number.MAX_SAFE_INTEGER, vote: 1, commit: 3 })), key: 'hardState', detail: /term is 9007199254740991, above the bound 2\^48/ },
  { name: 'hard state commit above 2^48', damage: (db) => db.put(diskKeys.hardState, encode({ term: 2, vote: 1, commit: over })), key: 'hardState', detail: new RegExp(`commit index is ${over}, above the bound`) },
  {
    name: 'last entry term above 2^48',
    damage: async (db) => {
      const e = decode<Record<string, unknown>>((await db.get(diskKeys.entry(3)))!);
      await db.put(diskKeys.entry(3), encode({ ...e, term: over }));
      await db.put(diskKeys.hardState, encode({ term: over, vote: 1, commit: 3 }));
    },
    key: 'hardState',
    detail: new RegExp(`term is ${over}, above the bound`),
  },
];

for (const c of cases) {
  test(`open refuses: ${c.name}`, async () => {
    const dir = tempDir('open-bounds-');
    try {
      const s = await DiskStorage.open(dir.path, { nodeId: 1 });
      await s.write({ entries: entries(1, 3, 2), hardState: { term: 2, vote: 1, commit: 3 }, confState: { voters: [1], learners: [] } });
      await s.close();
      await withRawDb(dir.path, c.damage);
      const err = (await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageInconsistentError, c.detail)) as StorageInconsistentError;
      assert.is(err.key, c.key);
      assert.is(err.dataDir, dir.path);
    } finally {
      dir.remove();
    }
  });
}

test('a hard state term exactly at the bound still opens', async () => {
  const dir = tempDir('open-bounds-edge-');
  try {
    const s = await DiskStorage.open(dir.path, { nodeId: 1 });
    await s.write({ entries: entries(1, 3, 2), hardState: { term: MAX_RAFT_NUMBER, vote: 1, commit: 3 }, confState: { voters: [1], learners: [] } });
    await s.close();
    const reopened = await DiskStorage.open(dir.path, { nodeId: 1 });
    assert.is((await reopened.initialState()).hardState.term, MAX_RAFT_NUMBER);
    await reopened.close();
  } finally {
    dir.remove();
  }
});

test.run();
