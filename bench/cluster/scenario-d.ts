/**
 * Scenario D: recovery and memory, on the durable cluster with snapshots on (the default
 * snapshotInterval of 10,000 entries).
 * - Restart: write N entries (default 1,000,000), stop all three members gracefully, start them
 *   again on their data; the time of a member is from `createNode` until `start()` resolved and
 *   its state machine applied everything committed before the stop (snapshot restored, log tail
 *   replayed). The figure is the slowest member's.
 * - Memory: the leader's RSS (after a full GC) before and after M more proposals (default
 *   5,000,000), 1,024 in flight; the figure is the growth in percent.
 */
import { RaftCluster } from './raft-cluster.ts';
import { FigureSet, type Scenario } from './scenario.ts';
import { formatNumber } from './stats.ts';
import type { BenchChild } from './ipc.ts';

const MiB = 1024 * 1024;

export const scenarioD: Scenario = {
  name: 'D',
  title: 'recovery and memory: restart after N entries (snapshots on), leader RSS before and after M proposals',
  async run(ctx) {
    const figures = new FigureSet();
    const { restartEntries, rssProposals } = ctx.sizes;
    for (let run = 1; run <= ctx.runs; run++) {
      const cluster = new RaftCluster(3);
      try {
        await cluster.start();
        const w = await cluster.load({ mode: 'window', count: restartEntries, size: 16, inflight: 1024 });
        ctx.progress(`D run ${run}: wrote ${restartEntries} entries in ${formatNumber(w.elapsedMs / 1000)} s`);
        await cluster.waitForAllCaughtUp();
        const commit = Math.max(...(await cluster.statuses()).map((s) => s.commit));
        await Promise.all([...cluster.members.values()].map((m) => m.stop()));
        const restarted: BenchChild[] = [];
        for (const id of [...cluster.members.keys()]) restarted.push(cluster.spawn(id, { expectApplied: commit }));
        const [started, restored] = await Promise.all([
          Promise.all(restarted.map((m) => m.waitEvent('started', 120_000).then((e) => e.ms as number))),
          Promise.all(restarted.map((m) => m.waitEvent('restored', 120_000).then((e) => e.ms as number))),
        ]);
        const slowStart = Math.max(...started);
        const slowRestore = Math.max(...restored);
        const n = restartEntries.toLocaleString('en-US');
        figures.add('D.restart', `D restart on ${n} entries: start() resolved, slowest member`, 'ms', slowStart, 'createNode to start() resolved: storage opened, snapshot restored, log loaded');
        figures.add('D.restored', `D restart on ${n} entries: applied up to the old commit, slowest`, 'ms', slowRestore, 'createNode until the state machine applied everything committed before the stop; includes the election (commit is learned from the new leader)');
        ctx.progress(`D run ${run}: restart on ${restartEntries} entries: start() resolved after ${started.map((t) => formatNumber(t)).join(', ')} ms; applied up to ${commit} after ${restored.map((t) => formatNumber(t)).join(', ')} ms`);

        const leaderId = await cluster.waitForLeader();
        const leader = cluster.members.get(leaderId)!;
        await cluster.load({ mode: 'window', count: Math.min(20_000, rssProposals), size: 16, inflight: 1024 }); // warm the new leader
        const before = await leader.request<{ rss: number }>('memory');
        const r = await cluster.load({ mode: 'window', count: rssProposals, size: 16, inflight: 1024 });
        const after = await leader.request<{ rss: number }>('memory');
        const growth = ((after.rss - before.rss) / before.rss) * 100;
        figures.add('D.rssBefore', 'D leader RSS before', 'MiB', before.rss / MiB);
        figures.add('D.rssAfter', `D leader RSS after ${rssProposals.toLocaleString('en-US')} proposals`, 'MiB', after.rss / MiB);
        figures.add('D.rssGrowth', 'D leader RSS growth', '%', growth);
        ctx.progress(`D run ${run}: leader RSS ${formatNumber(before.rss / MiB)} MiB -> ${formatNumber(after.rss / MiB)} MiB after ${rssProposals} proposals in ${formatNumber(r.elapsedMs / 1000)} s (${formatNumber(growth)} %)`);
      } finally {
        await cluster.stop();
      }
    }
    return figures.figures();
  },
};
