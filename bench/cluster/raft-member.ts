/**
 * One member of the benchmark's durable cluster, in its own OS process: a node made with the
 * public `createNode` on DiskStorage (fsync on every write) and TCP on loopback. The parent drives
 * it over IPC (ipc.ts): `status`, `load` (proposals made here, in the leader's process),
 * `memory`, `stop`. It reports `started` once `start()` resolved and, when asked, `led` each time
 * it becomes leader and a proposal of its own has committed (the failover scenario's clock).
 */
import { createNode, StateType, type Peer } from '../../src/index.ts';
import { CountingStateMachine } from './counting-state-machine.ts';
import { runLoad, settledMemory, type LoadRequest } from './load.ts';
import { sendEvent, serveRequests, wallMs } from './ipc.ts';

export interface RaftMemberArgs {
  readonly id: number;
  readonly peers: Peer[];
  readonly dataDir: string;
  readonly secret: string;
  readonly tickInterval: number;
  /** First start on an empty directory: found the cluster at once. */
  readonly fresh: boolean;
  /** Report `led` when this member wins an election and commits an entry of its own. */
  readonly announceLeadership: boolean;
  /** Report `restored` once the state machine has applied up to this index. */
  readonly expectApplied?: number;
}

const args = JSON.parse(process.argv[2]!) as RaftMemberArgs;
const sm = new CountingStateMachine();
const t0 = performance.now();
const node = createNode(
  { nodeId: args.id, peers: args.peers, dataDir: args.dataDir, tickInterval: args.tickInterval },
  sm,
  { secret: args.secret, ...(args.fresh ? { initialClusterState: 'new' as const, bootstrapConfirmed: true } : {}) },
);

serveRequests({
  status: () => {
    const s = node.status();
    return { id: s.id, term: s.term, lead: s.lead, leader: s.raftState === StateType.Leader, commit: s.commit, applied: s.applied, match: Object.values(s.progress).map((p) => p.match) };
  },
  load: (req) => {
    if (!node.isLeader()) throw new Error(`node ${args.id} is not the leader`);
    const before = node.metrics().fsyncSeconds;
    return runLoad((data) => node.propose(data), req as unknown as LoadRequest).then((r) => {
      const after = node.metrics().fsyncSeconds;
      return { ...r, leaderFsyncs: after.count - before.count, leaderFsyncSeconds: after.sum - before.sum };
    });
  },
  memory: () => settledMemory(),
  stop: async () => {
    await node.stop();
    setImmediate(() => process.exit(0));
  },
});

node.errors$.subscribe((err) => process.stderr.write(`node ${args.id}: ${err.name}: ${err.message}\n`));

await node.start();
sendEvent('started', { ms: performance.now() - t0, applied: node.status().applied });

if (args.expectApplied !== undefined) {
  const target = args.expectApplied;
  const check = setInterval(() => {
    if (node.status().applied >= target) {
      clearInterval(check);
      sendEvent('restored', { ms: performance.now() - t0, applied: node.status().applied });
    }
  }, 1);
}

if (args.announceLeadership) {
  let announcing = false;
  node.state$.subscribe((s) => {
    if (s.raftState !== StateType.Leader) {
      announcing = false;
      return;
    }
    if (announcing) return;
    announcing = true;
    const term = node.status().term;
    node.propose(new Uint8Array(16)).then(
      () => sendEvent('led', { id: args.id, term, at: wallMs() }),
      () => {
        announcing = false;
      },
    );
  });
}
