/**
 * A member restarted on a full disk says so: "disk full (ENOSPC)" with the data directory, and the
 * LevelDB error kept as `cause` — not a bare "Database failed to open".
 *
 * The full disk is real: a 256 KiB tmpfs is mounted for the test and filled through DiskStorage
 * itself until LevelDB's own write fails with ENOSPC; then the store is opened again, which needs
 * to write a new table and manifest. Mounting needs CAP_SYS_ADMIN (root in CI here); where it is
 * not allowed the test says so and does not pretend to have run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageFullError } from '../src/errors.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { entries, rejects } from './fixtures/log-fixtures.ts';

function mountTinyTmpfs(): string | undefined {
  const mountPoint = mkdtempSync(join(tmpdir(), 'disk-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (r.status === 0) return mountPoint;
  rmSync(mountPoint, { recursive: true, force: true });
  console.log(`  (disk-full test NOT run: cannot mount a tmpfs here: ${(r.stderr || r.error?.message || '').trim()})`);
  return undefined;
}

function unmount(mountPoint: string): void {
  spawnSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
}

test('opening on a full disk fails with StorageFullError that says disk full and keeps the cause', async () => {
  const mountPoint = mountTinyTmpfs();
  if (!mountPoint) return;
  const dir = join(mountPoint, 'data');
  try {
    const s = await DiskStorage.open(dir, { nodeId: 1 });
    let writeError: unknown;
    let next = 1;
    try {
      for (; next < 10_000; next += 4) {
        const batch = entries(next, next + 3, 1).map((e) => ({ ...e, data: new Uint8Array(4096).fill(next & 0xff) }));
        await s.write({ entries: batch, hardState: { term: 1, vote: 1, commit: 0 } });
      }
    } catch (err) {
      writeError = err;
    }
    assert.ok(writeError !== undefined, 'the tiny disk filled up');
    assert.match(String((writeError as Error).message), /No space left on device/);
    await s.close().catch(() => {});

    const err = (await rejects(DiskStorage.open(dir, { nodeId: 1 }), StorageFullError, /disk full \(ENOSPC\)/)) as StorageFullError;
    assert.is(err.dataDir, dir);
    assert.ok(err.message.includes(dir), 'names the directory');
    assert.match(err.message, /No space left on device/, 'carries LevelDB\'s reason');
    assert.ok(err.cause instanceof Error, 'the underlying error is kept as cause');
    assert.match((err.cause as Error).message, /Database failed to open/);
    assert.match(((err.cause as Error).cause as Error).message, /No space left on device/);
  } finally {
    unmount(mountPoint);
  }
});

test.run();
