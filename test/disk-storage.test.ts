/**
 * DiskStorage beyond the Storage contract: the directory lock (in one process and across
 * processes), corruption detection naming the damaged key, the node/cluster identity of a data
 * directory, chunked snapshots, and that garbage really leaves the disk.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  SnapshotOutOfDateError,
  StorageCorruptionError,
  StorageIdentityError,
  StorageInconsistentError,
  StorageLockedError,
  StoppedError,
} from '../src/errors.ts';
import { encode } from '../src/raft/codec.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { describeKey, diskKeys } from '../src/io/disk-keys.ts';
import { entries, entry, plainEntries, rejects, tempDir, type RawDb, withRawDb } from './fixtures/log-fixtures.ts';


async function rawKeyNames(dir: string, prefix: string): Promise<string[]> {
  return withRawDb(dir, async (db) => {
    const names: string[] = [];
    for await (const key of db.keys()) {
      const name = describeKey(key);
      if (name.startsWith(prefix)) names.push(name);
    }
    return names;
  });
}

/** Deterministic snapshot bytes: byte k of the data is a function of k, checkable in any slice. */
function snapshotByte(k: number): number {
  return (k * 31 + (k >>> 11)) & 0xff;
}

function snapshotBytes(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let k = 0; k < length; k++) out[k] = snapshotByte(offset + k);
  return out;
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  assert.ok(Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0, `${what}: content`);
}

// ---------------------------------------------------------------------------------------------
// The lock
// ---------------------------------------------------------------------------------------------

test('a second DiskStorage on the same directory in the same process gets StorageLockedError', async () => {
  const dir = tempDir('locked-');
  const first = await DiskStorage.open(dir.path, { nodeId: 1 });
  try {
    const err = await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageLockedError, /in use/);
    assert.ok(err.message.includes(dir.path), 'the message names the directory');
    assert.not.match(err.message, /LOCK: already held/, 'not LevelDB text');
    assert.is((err as StorageLockedError).dataDir, dir.path);
  } finally {
    await first.close();
  }
  const again = await DiskStorage.open(dir.path, { nodeId: 1 });
  await again.close();
  dir.remove();
});

function startHolder(dir: string): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('./fixtures/lock-holder.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}: ${stderr}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

test('a directory held by another OS process gives StorageLockedError; the lock dies with the process', async () => {
  const dir = tempDir('locked-process-');
  const holder = await startHolder(dir.path);
  try {
    await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageLockedError, /another process/);
  } finally {
    await killed(holder);
  }
  const storage = await DiskStorage.open(dir.path, { nodeId: 1 });
  await storage.close();
  dir.remove();
});

// ---------------------------------------------------------------------------------------------
// Corruption
// ---------------------------------------------------------------------------------------------

const garbage = Uint8Array.of(0xc1, 0xff, 0x00, 0x13); // 0xc1 is never valid msgpack

const corruptions: { name: string; key: Uint8Array; value: Uint8Array | 'delete'; failsAt: 'open' | 'read'; keyName: string; detail: RegExp }[] = [
  { name: 'undecodable entry in the middle', key: diskKeys.entry(3), value: garbage, failsAt: 'read', keyName: 'entry/3', detail: /does not decode/ },
  { name: 'undecodable last entry', key: diskKeys.entry(5), value: garbage, failsAt: 'open', keyName: 'entry/5', detail: /does not decode/ },
  { name: 'undecodable hard state', key: diskKeys.hardState, value: garbage, failsAt: 'open', keyName: 'hardState', detail: /does not decode/ },
  { name: 'hard state with a fractional term', key: diskKeys.hardState, value: encode({ term: 1.5, vote: 1, commit: 0 }), failsAt: 'open', keyName: 'hardState', detail: /term is 1.5/ },
  { name: 'hard state that is not a map', key: diskKeys.hardState, value: encode([1, 2, 3]), failsAt: 'open', keyName: 'hardState', detail: /expected a map/ },
  { name: 'entry with a negative term', key: diskKeys.entry(2), value: encode({ index: 2, term: -1, type: 0, data: new Uint8Array(1) }), failsAt: 'read', keyName: 'entry/2', detail: /term is -1/ },
  { name: 'entry stored under the wrong index', key: diskKeys.entry(4), value: encode({ index: 9, term: 1, type: 0, data: new Uint8Array(1) }), failsAt: 'read', keyName: 'entry/4', detail: /index 9/ },
  { name: 'entry without data', key: diskKeys.entry(3), value: encode({ index: 3, term: 1, type: 0 }), failsAt: 'read', keyName: 'entry/3', detail: /data/ },
  { name: 'entry of an unknown type', key: diskKeys.entry(3), value: encode({ index: 3, term: 1, type: 7, data: new Uint8Array(0) }), failsAt: 'read', keyName: 'entry/3', detail: /type 7/ },
  { name: 'entry missing from the middle of the log', key: diskKeys.entry(3), value: 'delete', failsAt: 'open', keyName: 'entry/3', detail: /missing/ },
  { name: 'first entry missing', key: diskKeys.entry(1), value: 'delete', failsAt: 'open', keyName: 'entry/1', detail: /missing/ },
  { name: 'conf state with a string voter', key: diskKeys.confState, value: encode({ voters: ['1'], learners: [] }), failsAt: 'open', keyName: 'confState', detail: /voters/ },
  { name: 'snapshot metadata that does not decode', key: diskKeys.snapshotMeta, value: garbage, failsAt: 'open', keyName: 'snapshotMeta', detail: /does not decode/ },
  { name: 'identity of an unknown format', key: diskKeys.identity, value: encode({ format: 99, nodeId: 1 }), failsAt: 'open', keyName: 'identity', detail: /format version 99/ },
];

for (const c of corruptions) {
  test(`corruption: ${c.name} fails with StorageCorruptionError naming ${c.keyName}`, async () => {
    const dir = tempDir('corrupt-');
    const storage = await DiskStorage.open(dir.path, { nodeId: 1 });
    await storage.write({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 1, commit: 2 }, confState: { voters: [1], learners: [] } });
    await storage.close();
    await withRawDb(dir.path, (db) => (c.value === 'delete' ? db.del(c.key) : db.put(c.key, c.value)));
    try {
      let error: Error;
      if (c.failsAt === 'open') {
        error = await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageCorruptionError);
        assert.ok(error.message.includes(dir.path), `names the data directory: ${error.message}`);
      } else {
        const reopened = await DiskStorage.open(dir.path, { nodeId: 1 });
        try {
          error = await rejects(reopened.entries(1, 6), StorageCorruptionError);
          const index = Number(c.keyName.split('/')[1]);
          if (index > 1 && index < 5) await rejects(reopened.term(index), StorageCorruptionError);
        } finally {
          await reopened.close();
        }
      }
      assert.is((error as StorageCorruptionError).key, c.keyName);
      assert.ok(error.message.includes(c.keyName), `message names the key: ${error.message}`);
      assert.match(error.message, c.detail);
    } finally {
      dir.remove();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

test('a data directory belongs to the node (and cluster) that first opened it', async () => {
  const dir = tempDir('identity-');
  const first = await DiskStorage.open(dir.path, { nodeId: 1, clusterId: 'alpha' });
  await first.saveState({ term: 4, vote: 1, commit: 0 });
  await first.close();
  const refusals: { opts: { nodeId?: number; clusterId?: string }; field: string; message: RegExp }[] = [
    { opts: { nodeId: 2, clusterId: 'alpha' }, field: 'nodeId', message: /belongs to nodeId 1, not 2/ },
    { opts: { nodeId: 1, clusterId: 'beta' }, field: 'clusterId', message: /belongs to clusterId "alpha", not "beta"/ },
    { opts: { nodeId: 3 }, field: 'nodeId', message: /nodeId 1, not 3/ },
  ];
  for (const r of refusals) {
    const err = await rejects(DiskStorage.open(dir.path, r.opts), StorageIdentityError, r.message);
    assert.is((err as StorageIdentityError).field, r.field);
    assert.ok(err.message.includes(dir.path));
  }
  const anonymous = await DiskStorage.open(dir.path);
  assert.is(anonymous.nodeId, 1, 'the recorded identity is reported');
  assert.is(anonymous.clusterId, 'alpha');
  assert.equal((await anonymous.initialState()).hardState, { term: 4, vote: 1, commit: 0 }, 'refused opens changed nothing');
  await anonymous.close();
  dir.remove();
});

test('a cluster id given later than the node id is recorded, then enforced', async () => {
  const dir = tempDir('identity-late-');
  await (await DiskStorage.open(dir.path, { nodeId: 5 })).close();
  await (await DiskStorage.open(dir.path, { nodeId: 5, clusterId: 'gamma' })).close();
  await rejects(DiskStorage.open(dir.path, { nodeId: 5, clusterId: 'delta' }), StorageIdentityError);
  dir.remove();
});

// ---------------------------------------------------------------------------------------------
// Chunked snapshots
// ---------------------------------------------------------------------------------------------

test('a large snapshot is written in pieces and read back chunk by chunk, never whole', async () => {
  const dir = tempDir('big-snapshot-');
  const chunkSize = 1 << 20;
  const size = 24 * chunkSize + 12345;
  const storage = await DiskStorage.open(dir.path, { nodeId: 1, snapshotChunkSize: chunkSize });
  await storage.saveEntries(entries(1, 10, 1));
  const writer = storage.beginSnapshot({ index: 8, term: 1, confState: { voters: [1, 2, 3], learners: [] } });
  const piece = 300 * 1024 + 7; // deliberately not a divisor of the chunk size
  for (let offset = 0; offset < size; offset += piece) await writer.write(snapshotBytes(offset, Math.min(piece, size - offset)));
  assert.is(await writer.finish(), size);
  assert.equal(storage.snapshotInfo(), { metadata: { index: 8, term: 1, confState: { voters: [1, 2, 3], learners: [] } }, size });
  assert.is(await storage.firstIndex(), 9, 'the snapshot compacted the log it covers, keeping the matching tail');
  assert.equal(plainEntries(await storage.entries(9, 11)), plainEntries(entries(9, 10, 1)));

  const reads: [offset: number, length: number][] = [
    [0, 10],
    [chunkSize - 5, 10], // across a chunk boundary
    [3 * chunkSize, chunkSize], // exactly one chunk
    [2 * chunkSize + 100, 3 * chunkSize], // several chunks
    [size - 100, 1000], // past the end: clamped
    [size, 10], // at the end: empty
  ];
  for (const [offset, length] of reads) {
    const got = await storage.readSnapshotChunk(offset, length, 8);
    sameBytes(got, snapshotBytes(offset, Math.max(0, Math.min(length, size - offset))), `readSnapshotChunk(${offset}, ${length})`);
  }
  await storage.close();

  // Shorten chunk 20 behind DiskStorage's back: reads of other chunks still work, proving they do
  // not load the whole snapshot; reading the whole snapshot names the damaged chunk.
  const chunkNames = await rawKeyNames(dir.path, 'snapshotChunk/');
  assert.is(chunkNames.length, 25);
  const generation = Number(chunkNames[0]!.split('/')[1]);
  await withRawDb(dir.path, (db) => db.put(diskKeys.snapshotChunk(generation, 20), new Uint8Array(10)));
  const reopened = await DiskStorage.open(dir.path, { nodeId: 1 });
  try {
    sameBytes(await reopened.readSnapshotChunk(2 * chunkSize + 17, 4096), snapshotBytes(2 * chunkSize + 17, 4096), 'chunk 2 after reopen');
    const err = await rejects(reopened.snapshot(), StorageCorruptionError, /10 bytes/);
    assert.is((err as StorageCorruptionError).key, `snapshotChunk/${generation}/20`);
    await rejects(reopened.readSnapshotChunk(20 * chunkSize, 10), StorageCorruptionError);
  } finally {
    await reopened.close();
  }
  // A chunk that is gone altogether is found at open, before anything reads the snapshot.
  await withRawDb(dir.path, (db) => db.del(diskKeys.snapshotChunk(generation, 20)));
  try {
    const err = await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageInconsistentError, /chunk 20 is missing/);
    assert.is((err as StorageCorruptionError).key, 'snapshotMeta, snapshotChunk/20');
  } finally {
    dir.remove();
  }
});

test('snapshot(): whole data from chunks; a replaced snapshot stops streaming and its chunks are deleted', async () => {
  const dir = tempDir('snapshot-replace-');
  const storage = await DiskStorage.open(dir.path, { snapshotChunkSize: 10 });
  const first = snapshotBytes(0, 95);
  await storage.saveSnapshot({ data: first, metadata: { index: 5, term: 1, confState: { voters: [1], learners: [] } } });
  sameBytes((await storage.snapshot()).data, first, 'snapshot() data');
  sameBytes(await storage.readSnapshotChunk(15, 20, 5), first.subarray(15, 35), 'a middle slice');
  await storage.write({ snapshot: { data: snapshotBytes(1000, 33), metadata: { index: 9, term: 2, confState: { voters: [1, 2], learners: [] } } } });
  await rejects(storage.readSnapshotChunk(35, 20, 5), SnapshotOutOfDateError, /index 5/);
  sameBytes(await storage.readSnapshotChunk(0, 100, 9), snapshotBytes(1000, 33), 'the new snapshot');
  await storage.close();
  const chunks = await rawKeyNames(dir.path, 'snapshotChunk/');
  assert.is(chunks.length, 4, `only the 4 chunks of the current snapshot remain: ${chunks.join(', ')}`);
  dir.remove();
});

test('an aborted or crashed chunked snapshot leaves nothing behind', async () => {
  const dir = tempDir('snapshot-abort-');
  const storage = await DiskStorage.open(dir.path, { snapshotChunkSize: 8 });
  const aborted = storage.beginSnapshot({ index: 3, term: 1, confState: { voters: [1], learners: [] } });
  await aborted.write(snapshotBytes(0, 50));
  await aborted.abort();
  await rejects(aborted.write(snapshotBytes(0, 1)), StoppedError);
  assert.is(storage.snapshotInfo().metadata.index, 0, 'nothing became current');
  const crashed = storage.beginSnapshot({ index: 4, term: 1, confState: { voters: [1], learners: [] } });
  await crashed.write(snapshotBytes(0, 40)); // 5 full chunks on disk, never finished
  await storage.close();
  assert.is((await rawKeyNames(dir.path, 'snapshotChunk/')).length, 5);
  await (await DiskStorage.open(dir.path)).close();
  assert.equal(await rawKeyNames(dir.path, 'snapshotChunk/'), [], 'open deletes unreferenced chunks');
  dir.remove();
});

test('beginSnapshot and finish refuse a snapshot older than the current one', async () => {
  const dir = tempDir('snapshot-stale-');
  const storage = await DiskStorage.open(dir.path, { snapshotChunkSize: 8 });
  const meta = (index: number) => ({ index, term: 1, confState: { voters: [1], learners: [] } });
  const slow = storage.beginSnapshot(meta(5));
  await slow.write(snapshotBytes(0, 20));
  await storage.saveSnapshot({ data: snapshotBytes(0, 3), metadata: meta(7) });
  assert.throws(() => storage.beginSnapshot(meta(6)), (err: unknown) => err instanceof SnapshotOutOfDateError);
  await rejects(slow.finish(), SnapshotOutOfDateError);
  assert.is(storage.snapshotInfo().metadata.index, 7);
  await storage.close();
  assert.is((await rawKeyNames(dir.path, 'snapshotChunk/')).length, 1, "the stale writer's chunks were deleted");
  dir.remove();
});

// ---------------------------------------------------------------------------------------------
// Garbage, closing, input validation
// ---------------------------------------------------------------------------------------------

test('compaction and truncation really delete the keys', async () => {
  const dir = tempDir('garbage-');
  const storage = await DiskStorage.open(dir.path);
  await storage.saveEntries(entries(1, 20, 1));
  await storage.compact(8);
  await storage.saveEntries(entries(15, 16, 2)); // drops 17..20
  await storage.close();
  const names = await rawKeyNames(dir.path, 'entry/');
  assert.equal(names, Array.from({ length: 8 }, (_, k) => `entry/${k + 9}`));
  dir.remove();
});

test('a closed DiskStorage refuses calls with StoppedError; close waits for queued writes', async () => {
  const dir = tempDir('closed-');
  const storage = await DiskStorage.open(dir.path);
  const pending = storage.saveEntries(entries(1, 100, 1));
  await storage.close();
  await pending;
  await rejects(storage.lastIndex(), StoppedError);
  await rejects(storage.saveEntries([entry(101, 1)]), StoppedError);
  const reopened = await DiskStorage.open(dir.path);
  assert.is(await reopened.lastIndex(), 100, 'the write queued before close() is on disk');
  await reopened.close();
  dir.remove();
});

test('entries with non-consecutive indexes are refused before anything is written', async () => {
  const dir = tempDir('invalid-');
  const storage = await DiskStorage.open(dir.path);
  await rejects(storage.saveEntries([entry(1, 1), entry(3, 1)]), RangeError, /consecutive/);
  await rejects(storage.write({ entries: [entry(1, 1)], hardState: { term: -1, vote: 0, commit: 0 } }), RangeError, /hardState.term/);
  assert.is(await storage.lastIndex(), 0);
  assert.equal((await storage.initialState()).hardState, { term: 0, vote: 0, commit: 0 });
  await storage.close();
  dir.remove();
});

test.run();
