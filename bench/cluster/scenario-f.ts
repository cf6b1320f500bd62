/** Scenario F: the floor (floor-member.ts), measured with the same loads as A. */
import { FloorCluster } from './floor-cluster.ts';
import { measureEmbedded } from './embedded-loads.ts';
import { FigureSet, type Scenario } from './scenario.ts';

export const scenarioF: Scenario = {
  name: 'F',
  title: 'the floor: the same pipeline without Raft (batch per turn, one sync level batch, msgpackr, TCP to 2 followers, majority)',
  async run(ctx) {
    const figures = new FigureSet();
    for (let run = 1; run <= ctx.runs; run++) {
      const floor = new FloorCluster();
      try {
        await floor.start();
        await measureEmbedded('F', ctx, run, figures, (req) => floor.load(req), false);
      } finally {
        await floor.stop();
      }
    }
    return figures.figures();
  },
};
