/**
 * No silent bootstrap (docs/membership.md): an empty data directory that was not told to found a
 * cluster refuses to start with BootstrapRefusedError naming both ways out; with data in it, the
 * same options restart it as itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNode } from '../src/actors/raft-node.ts';
import { BootstrapRefusedError } from '../src/errors.ts';
import { KvStateMachine } from '../src/kv/kv-state-machine.ts';
import { freePorts } from './fixtures/free-ports.ts';

test("initialClusterState 'existing' on an empty directory: refused with the way out; on a directory with data: starts", async () => {
  const root = mkdtempSync(join(tmpdir(), 'actor-raft-bootstrap-'));
  const [p1, p2, p3] = await freePorts(3);
  const peers = [p1, p2, p3].map((p, i) => ({ id: i + 1, address: `127.0.0.1:${p}` }));
  const dataDir = join(root, '1');
  try {
    const refused = createNode({ nodeId: 1, peers, dataDir }, new KvStateMachine(), { secret: 'test secret long enough for the 128-bit floor', initialClusterState: 'existing' });
    const err = await refused.start().then(() => undefined, (e: unknown) => e);
    assert.instance(err, BootstrapRefusedError);
    assert.match((err as Error).message, /empty.*member add 1 <host:port>.*--join.*--initial-cluster-state new/s);
    await refused.stop();

    // Told to found and confirmed by the caller: the founding membership is written at once, with
    // no peer up; without the confirmation it waits for a majority of peers to say they are new.
    const waits = createNode({ nodeId: 1, peers, dataDir: join(root, 'w') }, new KvStateMachine(), { secret: 'test secret long enough for the 128-bit floor', initialClusterState: 'new' });
    const founds = createNode({ nodeId: 1, peers, dataDir: join(root, 'f') }, new KvStateMachine(), { secret: 'test secret long enough for the 128-bit floor', initialClusterState: 'new', bootstrapConfirmed: true });
    await waits.start();
    await waits.stop();
    await founds.start();
    await founds.stop();
    const { DiskStorage } = await import('../src/io/disk-storage.ts');
    for (const [dir, last] of [['w', 0], ['f', 3]] as const) {
      const st = await DiskStorage.open(join(root, dir));
      assert.is(await st.lastIndex(), last, `${dir}: founding entries on disk`);
      await st.close();
    }

    // A single member founds its own cluster at once; restarted with 'existing' it is itself again.
    const alone = [peers[0]!];
    const founder = createNode({ nodeId: 1, peers: alone, dataDir }, new KvStateMachine(), { initialClusterState: 'new' });
    await founder.start();
    for (let i = 0; i < 100 && !founder.isLeader(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(founder.isLeader());
    await founder.stop();
    const again = createNode({ nodeId: 1, peers: alone, dataDir }, new KvStateMachine(), { initialClusterState: 'existing' });
    await again.start();
    for (let i = 0; i < 100 && !again.isLeader(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(again.isLeader(), 'a directory with data restarts whatever the flag says');
    await again.stop();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
