/**
 * A store's member identity (docs/membership.md): a random incarnation drawn when the data
 * directory is created and kept for its life, a new one for a new directory, and the peer
 * incarnations a member recorded surviving a restart (and a damaged record refused at open).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageCorruptionError } from '../src/errors.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { SimDisk } from '../src/sim/sim-disk.ts';

const A = 'a'.repeat(32);

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'actor-raft-identity-'));
}

test('DiskStorage: the incarnation is drawn once per directory and survives reopening; recorded peers survive a restart', async () => {
  const root = tempDir();
  try {
    const dir = join(root, 'n1');
    const s1 = await DiskStorage.open(dir, { nodeId: 1, clusterId: 'c' });
    const first = (await s1.memberIdentity()).incarnation;
    assert.match(first, /^[0-9a-f]{32}$/);
    assert.equal((await s1.memberIdentity()).peerIncarnations, {});
    await s1.write({ peerIncarnations: { 2: { incarnation: A, since: 7 } } });
    await s1.close();

    const s2 = await DiskStorage.open(dir, { nodeId: 1, clusterId: 'c' });
    assert.equal(await s2.memberIdentity(), { incarnation: first, peerIncarnations: { 2: { incarnation: A, since: 7 } } });
    await s2.close();

    rmSync(dir, { recursive: true });
    const s3 = await DiskStorage.open(dir, { nodeId: 1, clusterId: 'c' });
    const again = await s3.memberIdentity();
    assert.is.not(again.incarnation, first, 'a wiped directory is a new identity');
    assert.equal(again.peerIncarnations, {});
    await s3.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('DiskStorage: a bad peer record is refused before it is written, and a damaged one at open names the record', async () => {
  const root = tempDir();
  try {
    const dir = join(root, 'n1');
    const s = await DiskStorage.open(dir, { nodeId: 1 });
    const bad: unknown[] = [{ 2: { incarnation: 'xyz', since: 1 } }, { 2: { incarnation: A, since: -1 } }];
    for (const peerIncarnations of bad) {
      await s.write({ peerIncarnations } as never).then(
        () => assert.unreachable(`accepted ${JSON.stringify(peerIncarnations)}`),
        (err: Error) => assert.instance(err, TypeError),
      );
    }
    await s.close();
    // Damage the record on disk: [id, incarnation, since] rows with a broken incarnation.
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    const { encode } = await import('../src/raft/codec.ts');
    await db.put(Uint8Array.of(0x70), encode([[2, 'not-hex', 3]]));
    await db.close();
    await DiskStorage.open(dir, { nodeId: 1 }).then(
      () => assert.unreachable('opened a store with a damaged peer record'),
      (err: Error) => {
        assert.instance(err, StorageCorruptionError);
        assert.match(err.message, /peerIncarnations/);
      },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('MemoryStorage and the simulated disk: an incarnation per store; a wipe draws a new one and forgets the peers', async () => {
  const m = new MemoryStorage();
  const inc = (await m.memberIdentity()).incarnation;
  assert.is((await m.memberIdentity()).incarnation, inc, 'stable for the life of the store');
  assert.is.not((await new MemoryStorage().memberIdentity()).incarnation, inc);

  const disk = new SimDisk(A);
  disk.complete({ peerIncarnations: { 3: { incarnation: 'b'.repeat(32), since: 1 } } });
  assert.is(disk.load().incarnation, A, 'a restart keeps the disk');
  assert.equal(disk.load().peerIncarnationsSync(), { 3: { incarnation: 'b'.repeat(32), since: 1 } });
  disk.wipe('c'.repeat(32));
  assert.is(disk.incarnation, 'c'.repeat(32));
  assert.equal(disk.load().peerIncarnationsSync(), {});
});

test.run();
