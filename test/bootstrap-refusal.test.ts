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
    const refused = createNode({ nodeId: 1, peers, dataDir }, new KvStateMachine(), { secret: 'test secret', initialClusterState: 'existing' });
    const err = await refused.start().then(() => undefined, (e: unknown) => e);
    assert.instance(err, BootstrapRefusedError);
    assert.match((err as Error).message, /empty.*member add 1 <host:port>.*--join.*--initial-cluster-state new/s);
    await refused.stop();

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
