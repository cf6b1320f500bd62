/**
 * Scenario C: failover. SIGKILL the leader's process, time until a new leader has committed an
 * entry of its own (the survivors report it: raft-member.ts `led`), restart the killed member on
 * its data, wait until everyone caught up, repeat. With the default 100 ms tick and with 10 ms.
 */
import { RaftCluster } from './raft-cluster.ts';
import { wallMs } from './ipc.ts';
import { FigureSet, type Scenario } from './scenario.ts';
import { formatNumber, median } from './stats.ts';

async function failovers(tickInterval: number, kills: number, progress: (l: string) => void, run: number): Promise<number[]> {
  const cluster = new RaftCluster(3, { tickInterval, announceLeadership: true });
  const times: number[] = [];
  try {
    await cluster.start();
    await cluster.load({ mode: 'window', count: 200, size: 16, inflight: 16 });
    await cluster.waitForAllCaughtUp();
    for (let k = 1; k <= kills; k++) {
      const leaderId = await cluster.waitForLeader();
      const term = (await cluster.statuses()).find((s) => s.id === leaderId)!.term;
      const survivors = [...cluster.members].filter(([id]) => id !== leaderId).map(([, m]) => m);
      const led = Promise.any(survivors.map((m) => m.waitEvent('led', 60_000, (e) => (e.term as number) > term)));
      const t0 = wallMs();
      await cluster.members.get(leaderId)!.kill('SIGKILL');
      const e = await led;
      const ms = (e.at as number) - t0;
      times.push(ms);
      progress(`C tick ${tickInterval} ms run ${run}: kill ${k}/${kills}: node ${leaderId} killed, node ${String(e.id)} committed as leader after ${formatNumber(ms)} ms`);
      const back = cluster.spawn(leaderId);
      await back.waitEvent('started', 60_000);
      await cluster.waitForAllCaughtUp();
    }
  } finally {
    await cluster.stop();
  }
  return times;
}

export const scenarioC: Scenario = {
  name: 'C',
  title: 'failover: SIGKILL the leader, time until a new leader commits (default 100 ms ticks and 10 ms ticks)',
  async run(ctx) {
    const figures = new FigureSet();
    for (const tick of [100, 10]) {
      const label = tick === 100 ? 'default ticks (100 ms)' : '10 ms ticks';
      for (let run = 1; run <= ctx.runs; run++) {
        const t = await failovers(tick, ctx.sizes.kills, ctx.progress, run);
        figures.add(`C.tick${tick}.median`, `C failover, ${label}, median`, 'ms', median(t), `${ctx.sizes.kills} kills per run`);
        figures.add(`C.tick${tick}.max`, `C failover, ${label}, max`, 'ms', Math.max(...t), 'the largest over every run', 'max');
      }
    }
    return figures.figures();
  },
};
