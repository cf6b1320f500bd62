/**
 * A RaftNode whose disk fails: it must not acknowledge what was not written, it stops itself, and
 * it says why on errors$.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNode } from '../src/actors/raft-node.ts';
import { ProposalOutcomeUnknownError, StoppedError, StorageWriteFailedError } from '../src/errors.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { RecordingStorage } from './fixtures/recording-store.ts';
import { freePorts, settleWithin, waitUntil } from './fixtures/free-ports.ts';

test('a failed disk write stops the node safely: no proposal after it resolves, the error is on errors$', async () => {
  const [port] = await freePorts(1);
  const storage = new RecordingStorage(new MemoryStorage());
  const applied: string[] = [];
  const node = createNode(
    { nodeId: 1, peers: [{ id: 1, address: `127.0.0.1:${port}` }], tickInterval: 10 },
    { apply: (d) => applied.push(new TextDecoder().decode(d)), snapshot: () => new Uint8Array(), restore: () => {} },
    { storage },
  );
  const errors: Error[] = [];
  node.errors$.subscribe((e) => errors.push(e));
  await node.start();
  try {
    await waitUntil(() => node.isLeader(), 'leader', 5000);
    await node.propose(new TextEncoder().encode('before'));
    // The next write fails, as a full disk would.
    storage.failWrite(storage.writes.length + 1, Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, (_, i) => settleWithin(node.propose(new TextEncoder().encode(`after-${i}`)), 3000)),
    );
    for (const o of outcomes) {
      assert.is(o.status, 'rejected', 'nothing written after the failure is acknowledged');
      // They were appended before the write failed, so "stopped" (retry freely) would be a lie:
      // their outcome is unknown to this node, and the error says why.
      const reason = (o as { reason: unknown }).reason;
      assert.instance(reason, ProposalOutcomeUnknownError);
      assert.instance((reason as Error).cause, StorageWriteFailedError);
    }
    assert.equal(applied, ['before'], 'nothing that was not durable was applied');
    await waitUntil(() => errors.some((e) => e instanceof StorageWriteFailedError), 'the failure reported', 3000);
    const failure = errors.find((e) => e instanceof StorageWriteFailedError)!;
    assert.match(failure.message, /disk full \(ENOSPC\)/);
    assert.is((failure.cause as { code?: string }).code, 'ENOSPC', 'the disk error is kept as cause');
    const late = await settleWithin(node.propose(new TextEncoder().encode('late')), 1000);
    assert.is(late.status, 'rejected');
    assert.instance((late as { reason: unknown }).reason, StoppedError);
  } finally {
    await node.stop();
  }
});

test.run();
