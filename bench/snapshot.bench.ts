/**
 * Snapshot transfer in the simulation: a follower cut off while the leader compacts past it
 * receives a 64 MiB state in 1 MiB chunks (4 in flight). Reports the transfer rate (wall clock,
 * since the simulated network is instantaneous in real time, this is the cost of the code path:
 * chunking, acks, copying into the receiver's buffer, persisting and restoring) and the memory peak
 * during the transfer over the baseline before it. All three nodes live in this one process, so the
 * baseline already holds their states and snapshots. Median of 3 rounds.
 */
import { Simulation } from '../src/sim/simulation.ts';
import type { SimStateMachine } from '../src/sim/digest-state-machine.ts';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.SNAPSHOT_MIB ?? 64) * MiB;

/**
 * A state machine whose state is one big immutable buffer plus a counter; snapshot() hands out the
 * buffer without copying it (it never changes), like a persistent data structure would.
 */
class BlobStateMachine implements SimStateMachine {
  private state: Uint8Array = new Uint8Array(0);
  private n = 0;
  apply(): number {
    if (this.state.byteLength === 0) this.state = new Uint8Array(SIZE).fill(7);
    return ++this.n;
  }
  snapshot(): Uint8Array {
    return this.state;
  }
  restore(data: Uint8Array): void {
    this.state = data;
  }
}

function round(): { mibPerSec: number; seconds: number; peakMiB: number; chunks: number } {
  const sim = new Simulation({
    seed: 5,
    nodes: 3,
    config: { snapshotInterval: 100, snapshotCatchUpEntries: 0, maxSizePerMsg: MiB },
    stateMachine: () => new BlobStateMachine(),
    network: { delay: [1, 2] },
  });
  sim.runUntil((s) => s.leader() !== undefined, 200);
  const leader = sim.leader()!;
  const follower = sim.ids.find((id) => id !== leader)!;
  sim.isolate(follower);
  const enc = new TextEncoder();
  for (let i = 0; i < 150; i++) {
    sim.propose(leader, enc.encode(`e${i}`));
    if (i % 10 === 0) sim.runFor(1);
  }
  sim.runFor(5);
  globalThis.gc?.();
  const base = process.memoryUsage();
  let peak = base.rss;
  let chunks = 0;
  const actor = sim.node(follower)!;
  const step = actor.step.bind(actor);
  actor.step = (m) => {
    if (m.chunk) chunks++;
    step(m);
  };
  const target = sim.status(leader).commit;
  sim.heal();
  const t0 = performance.now();
  while (sim.status(follower).applied < target && sim.step()) {
    if (sim.steps % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (sim.snapshotsSent(leader) === 0) throw new Error('no snapshot was sent');
  return { mibPerSec: SIZE / MiB / seconds, seconds, peakMiB: (peak - base.rss) / MiB, chunks };
}

const rounds = [round(), round(), round()].sort((a, b) => a.mibPerSec - b.mibPerSec);
const m = rounds[1]!;
console.log(
  `snapshot transfer, ${SIZE / MiB} MiB state, 1 MiB chunks:  ${m.mibPerSec.toFixed(0)} MiB/s (${m.seconds.toFixed(2)} s, ${m.chunks} chunks), ` +
    `memory peak +${m.peakMiB.toFixed(0)} MiB RSS over the baseline`,
);
