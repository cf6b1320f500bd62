/** Scenario A: the durable cluster (3 processes, DiskStorage with fsync, TCP), proposer in the leader. */
import { RaftCluster } from './raft-cluster.ts';
import { measureEmbedded } from './embedded-loads.ts';
import { FigureSet, type Scenario } from './scenario.ts';

export const scenarioA: Scenario = {
  name: 'A',
  title: 'durable cluster: 3 processes, DiskStorage with fsync, TCP loopback, proposer in the leader',
  async run(ctx) {
    const figures = new FigureSet();
    for (let run = 1; run <= ctx.runs; run++) {
      const cluster = new RaftCluster(3);
      try {
        const leader = await cluster.start();
        ctx.progress(`A run ${run}: cluster up, node ${leader} leads`);
        await measureEmbedded('A', ctx, run, figures, (req) => cluster.load(req), run === 1);
      } finally {
        await cluster.stop();
      }
    }
    return figures.figures();
  },
};
