/**
 * Scenario B: the core. Three nodes in this process, memory storage and the in-memory network:
 * proposals/s with 4,096 in flight, proposed to the leader. What is left is the node itself
 * (statecharts, the log, Ready handling, apply), without fsync or sockets.
 */
import { createNode, type RaftNode } from '../../src/index.ts';
import { CountingStateMachine } from './counting-state-machine.ts';
import { InMemoryNetwork } from './in-memory-network.ts';
import { runLoad } from './load.ts';
import { FigureSet, type Scenario } from './scenario.ts';
import { formatNumber } from './stats.ts';

async function coreCluster(): Promise<{ nodes: RaftNode<number>[]; leader: RaftNode<number> }> {
  const net = new InMemoryNetwork();
  const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));
  const nodes = peers.map(({ id }) => createNode({ nodeId: id, peers }, new CountingStateMachine(), { transport: net.transportFor(id) }));
  await Promise.all(nodes.map((n) => n.start()));
  await nodes[0]!.campaign(); // no need to wait out an election timeout
  const signal = AbortSignal.timeout(10_000);
  await Promise.all(nodes.map((n) => n.waitForLeader({ signal })));
  const leader = nodes.find((n) => n.isLeader());
  if (!leader) throw new Error('no leader among the core nodes');
  return { nodes, leader };
}

export const scenarioB: Scenario = {
  name: 'B',
  title: 'core: 3 nodes in one process, memory storage, in-memory network, 4,096 in flight',
  async run(ctx) {
    const figures = new FigureSet();
    for (let run = 1; run <= ctx.runs; run++) {
      const { nodes, leader } = await coreCluster();
      try {
        await runLoad((d) => leader.propose(d), { mode: 'window', count: Math.min(20_000, Math.ceil(ctx.sizes.core / 5)), size: 16, inflight: 4096 }); // warm-up
        const r = await runLoad((d) => leader.propose(d), { mode: 'window', count: ctx.sizes.core, size: 16, inflight: 4096 });
        const perSec = r.count / (r.elapsedMs / 1000);
        figures.add('B.rate', 'B core, 16 B, 4,096 in flight', 'proposals/s', perSec);
        ctx.progress(`B run ${run}: ${r.count} x 16 B in ${formatNumber(r.elapsedMs)} ms = ${formatNumber(perSec)}/s`);
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
      }
    }
    return figures.figures();
  },
};
