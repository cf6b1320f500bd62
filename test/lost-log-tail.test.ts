/**
 * The reproduction with real processes: a follower is SIGKILLed, the tail of its LevelDB
 * write-ahead log (`*.log`) is cut off, and it is started again on that directory. What is left is
 * an earlier, self-consistent state, so DiskStorage.open cannot object; but the member has lost
 * entries it acknowledged. Before, it answered every append with a rejection the leader ignores as
 * stale and stayed in probe forever. Now the leader's first heartbeat (commit = min(match, commit))
 * shows the loss and the member stops with StorageInconsistentError naming the replace procedure,
 * while the other two keep serving.
 */
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProcessCluster, closeHttpAgent, httpRequest, waitFor } from './fixtures/cli-cluster.ts';

test('a follower whose LevelDB log tail was cut after SIGKILL stops with StorageInconsistentError instead of probing forever', async () => {
  const cluster = await ProcessCluster.create(3, { tickMs: 50 });
  try {
    await Promise.all([1, 2, 3].map((id) => cluster.start(id)));
    const leader = await waitFor(() => cluster.agreedLeader(), 'a leader', 15_000);
    const followerId = [1, 2, 3].find((id) => id !== leader)!;
    const http = cluster.member(leader).http;
    for (let i = 0; i < 300; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          const res = await httpRequest(http, 'PUT', `/kv/key-${i + k}`, `value-${i + k}`);
          assert.is(res.status, 200, res.text);
        }),
      );
    }
    const commit = (await cluster.status(leader))!.commit;
    await waitFor(async () => ((await cluster.status(followerId))?.commit ?? 0) >= commit ? true : undefined, 'the follower holds everything', 10_000);
    await cluster.kill(followerId);

    const dir = cluster.member(followerId).dataDir;
    const logs = readdirSync(dir).filter((f) => /^\d+\.log$/.test(f));
    assert.is(logs.length, 1, `one write-ahead log in ${dir}: ${readdirSync(dir).join(', ')}`);
    const file = join(dir, logs[0]!);
    truncateSync(file, Math.floor(statSync(file).size / 2));

    // It opens (nothing contradicts on its disk) ...
    await cluster.start(followerId);
    // ... and stops at the leader's first heartbeat, saying why and what to do.
    const m = cluster.member(followerId);
    await waitFor(async () => (/StorageInconsistentError|the log was truncated, corrupted or lost/.test(m.output) ? true : undefined), 'the member to report the lost tail', 10_000);
    assert.match(m.output, new RegExp(`the leader says index \\d+ is committed and held here, but the log ends at index \\d+`));
    assert.match(m.output, /actor-raft member remove <id>/);
    await waitFor(async () => ((await cluster.status(followerId)) === undefined ? true : undefined), 'the member to be stopped', 5000);
    // The other two keep serving.
    const res = await httpRequest(http, 'PUT', '/kv/after', 'still-serving');
    assert.is(res.status, 200, res.text);
  } catch (err) {
    console.log(cluster.output().slice(-4000));
    throw err;
  } finally {
    await cluster.destroy();
    closeHttpAgent();
  }
});

test.run();
